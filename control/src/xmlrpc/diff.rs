//! Section-level differences between two configs, and the dry run: what a push would change
//! on the secondary, computed by running the secondary's own merge
//! ([`merge::restore_config_section`]) on the sections it reports through
//! `backup_config_section`. No pfSense has this.
//!
//! A section is unchanged, added, removed, or changed; for a changed one, each child name
//! (`rule`, `vip`, `defaultgw4`, …) whose elements differ is listed with its count before
//! and after and how many positions differ. Node-local parts of the payload that the
//! secondary would ignore are listed too.

use std::fmt;

use crate::config::ConfigDocument;
use crate::config::xml::Element;

use super::merge::{self, MergeError};
use super::payload::Payload;
use super::tree::value_to_elements;
use super::value::Value;

/// How one section changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionChange {
    /// Same before and after.
    Unchanged,
    /// Absent before.
    Added,
    /// Absent after.
    Removed,
    /// Present in both, different.
    Changed(Vec<ChildChange>),
}

/// Children of one name that differ inside a changed section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildChange {
    /// The child name (`rule`), or the section name for a top-level list (`cert`).
    pub name: String,
    /// Elements before.
    pub before: usize,
    /// Elements after.
    pub after: usize,
    /// Positions that differ, counting the added or removed tail.
    pub differing: usize,
}

/// One section's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionDiff {
    /// The section name.
    pub section: String,
    /// What happens to it.
    pub change: SectionChange,
}

impl fmt::Display for SectionDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.change {
            SectionChange::Unchanged => write!(f, "{}: unchanged", self.section),
            SectionChange::Added => write!(f, "{}: added", self.section),
            SectionChange::Removed => write!(f, "{}: removed", self.section),
            SectionChange::Changed(children) => {
                write!(f, "{}: changed", self.section)?;
                for (i, c) in children.iter().enumerate() {
                    let sep = if i == 0 { " (" } else { ", " };
                    write!(
                        f,
                        "{sep}{} {} → {}, {} differ",
                        c.name, c.before, c.after, c.differing
                    )?;
                }
                if !children.is_empty() {
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

fn differing(before: &[&Element], after: &[&Element]) -> usize {
    let common = before.iter().zip(after).filter(|(b, a)| b != a).count();
    common + before.len().abs_diff(after.len())
}

fn names_in_order<'a>(before: &'a [Element], after: &'a [Element]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for c in before.iter().chain(after) {
        if !names.contains(&c.name()) {
            names.push(c.name());
        }
    }
    names
}

/// The change of each top-level section in `sections` from `before` to `after`.
#[must_use]
pub fn diff_sections(
    before: &ConfigDocument,
    after: &ConfigDocument,
    sections: &[String],
) -> Vec<SectionDiff> {
    sections
        .iter()
        .map(|name| {
            let b: Vec<&Element> = before.root().children_named(name).collect();
            let a: Vec<&Element> = after.root().children_named(name).collect();
            let change = match (b.as_slice(), a.as_slice()) {
                (x, y) if x == y => SectionChange::Unchanged,
                ([], _) => SectionChange::Added,
                (_, []) => SectionChange::Removed,
                ([one_b], [one_a]) if !crate::config::xml::is_listtag(name) => {
                    let children = names_in_order(one_b.children(), one_a.children())
                        .into_iter()
                        .filter_map(|n| {
                            let cb: Vec<&Element> = one_b.children_named(n).collect();
                            let ca: Vec<&Element> = one_a.children_named(n).collect();
                            (cb != ca).then(|| ChildChange {
                                name: n.to_owned(),
                                before: cb.len(),
                                after: ca.len(),
                                differing: differing(&cb, &ca),
                            })
                        })
                        .collect::<Vec<_>>();
                    // Same children, different text (a section that is a plain value).
                    SectionChange::Changed(children)
                }
                (x, y) => SectionChange::Changed(vec![ChildChange {
                    name: name.clone(),
                    before: x.len(),
                    after: y.len(),
                    differing: differing(x, y),
                }]),
            };
            SectionDiff {
                section: name.clone(),
                change,
            }
        })
        .collect()
}

/// What a push of `payload` would do to a secondary whose `backup_config_section` answer
/// (for the payload's sections) is `remote` and whose config version is `remote_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Each section of the payload, in payload order.
    pub sections: Vec<SectionDiff>,
    /// Paths the secondary would not apply (node-local).
    pub ignored: Vec<String>,
}

impl DryRun {
    /// The sections that would change.
    pub fn changes(&self) -> impl Iterator<Item = &SectionDiff> {
        self.sections
            .iter()
            .filter(|s| s.change != SectionChange::Unchanged)
    }

    /// Whether the push would change nothing.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.changes().next().is_none()
    }
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sections {
            writeln!(f, "{s}")?;
        }
        if !self.ignored.is_empty() {
            writeln!(f, "ignored by the secondary: {}", self.ignored.join(", "))?;
        }
        Ok(())
    }
}

/// Computes the dry run (see [`DryRun`]).
///
/// # Errors
/// [`MergeError`] when the remote answer or the payload cannot be merged (the real push
/// would be refused the same way).
pub fn dry_run(
    remote: &Value,
    remote_version: Option<&str>,
    payload: &Payload,
) -> Result<DryRun, MergeError> {
    let mut root = Element::new("pfsense");
    if let Some(v) = remote_version {
        root.push(Element::with_text("version", v));
    }
    if let Value::Struct(members) = remote {
        for (name, v) in members {
            for e in value_to_elements(name, v)? {
                root.push(e);
            }
        }
    }
    let before =
        ConfigDocument::from_root(root).map_err(|e| MergeError::Document(e.to_string()))?;
    let (after, report) = merge::restore_config_section(&before, &payload.value)?;
    let names: Vec<String> = payload
        .sections
        .iter()
        .filter(|s| !report.ignored.contains(s))
        .cloned()
        .collect();
    Ok(DryRun {
        sections: diff_sections(&before, &after, &names),
        ignored: report.ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::xmlrpc::merge::backup_config_section;
    use crate::xmlrpc::payload::build_payload;

    const PRIMARY: &str = include_str!("../../tests/data/ha-primary.xml");

    #[test]
    fn test_dry_run_against_a_fresh_and_a_synced_secondary() {
        let primary = Config::parse(PRIMARY.as_bytes()).unwrap();
        let payload = build_payload(&primary).unwrap();
        // A secondary with the same config but no rules, no aliases, advskew 0.
        let fresh = PRIMARY
            .replace("<synchronizetoip>172.16.0.2</synchronizetoip>", "")
            .replace(
                &PRIMARY[PRIMARY.find("<filter>").unwrap()..PRIMARY.find("</filter>").unwrap() + 9],
                "<filter></filter>",
            );
        let secondary = ConfigDocument::parse(fresh.as_bytes()).unwrap();
        let names: Vec<String> = payload.sections.clone();
        let remote = backup_config_section(&secondary, &names);
        let run = dry_run(&remote, secondary.version(), &payload).unwrap();
        let text = run.to_string();
        assert!(
            text.contains("filter: changed (rule 0 → 4, 4 differ)"),
            "{text}"
        );
        assert!(
            text.contains("virtualip: changed (vip 3 → 3, 2 differ)"),
            "{text}"
        );
        assert!(text.contains("aliases: unchanged"), "{text}");
        assert!(!run.is_noop());
        // Apply it, and the next dry run is a no-op.
        let (synced, _) = merge::restore_config_section(&secondary, &payload.value).unwrap();
        let remote = backup_config_section(&synced, &names);
        let run = dry_run(&remote, synced.version(), &payload).unwrap();
        assert!(run.is_noop(), "{run}");
    }

    #[test]
    fn test_diff_shapes() {
        let before =
            ConfigDocument::parse(b"<pfsense><cert><r>1</r></cert><a><x>1</x></a><b/></pfsense>")
                .unwrap();
        let after = ConfigDocument::parse(
            b"<pfsense><cert><r>1</r></cert><cert><r>2</r></cert><c/><b/></pfsense>",
        )
        .unwrap();
        let d = diff_sections(
            &before,
            &after,
            &["cert".into(), "a".into(), "b".into(), "c".into()],
        );
        let text: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "cert: changed (cert 1 → 2, 1 differ)",
                "a: removed",
                "b: unchanged",
                "c: added"
            ]
        );
    }
}
