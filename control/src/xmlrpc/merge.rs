//! What the secondary does with the sections it receives: pfSense's `xmlrpc.php` merge
//! rules (master, reference §5, checked against the source), on our lossless tree.
//!
//! Every function here is pure: it takes the running document and the decoded XML-RPC
//! parameter and returns a new document plus a [`MergeReport`]; the caller validates the
//! result whole and swaps it in, or changes nothing.
//!
//! [`restore_config_section`] (`pfsense.restore_config_section`):
//! * the sections of [`FULL_REPLACE_SECTIONS`] replace the local ones wholesale, even when
//!   empty (so deleting the last rule propagates);
//! * every other section is overlaid two levels deep (PHP's two-argument
//!   `array_merge_recursive_unique`): each child the payload names replaces all local
//!   children of that name (`virtualip/vip`, `staticroutes/route`, `gateways/defaultgw4`),
//!   other local children stay. An empty array or struct changes nothing; a scalar
//!   (`""`) replaces the whole section;
//! * `system`: when the payload carries both a non-empty `user` and `group` list, accounts
//!   are merged by name: local groups with gid < 1999 and users with uid < 2000 (`admin`)
//!   are kept unless the payload's `hasync/adminsync` is `on` (users only); other accounts
//!   are taken from the payload, local ones it lacks are deleted (uid/gid above 65000
//!   kept); both lists end sorted by name. `nextuid`, `nextgid` and `authserver` are
//!   overlaid;
//! * `virtualip`: after the overlay, the local `ipalias`/`proxyarp` VIPs on real interfaces
//!   (and anything on `lo0`) are put back in front of the list: each node keeps its own;
//! * `captiveportal` replaces the local one, keeping each zone's local backward-sync
//!   settings; `voucher` is overlaid, keeping each zone's local voucher-sync settings;
//! * `kea`/`kea6` keep the local HA TLS settings and `localname`.
//!
//! Where rampart differs from pfSense, on purpose:
//! * node-local sections ([`NODE_LOCAL_SECTIONS`]: `interfaces`, `hasync`, `rampart`,
//!   `version`, `revision`) are never written by XMLRPC, whatever the payload says, and in
//!   `system` only the synced children ([`SYSTEM_SYNCED`]) are taken. A stock pfSense
//!   primary never sends anything else (reference §4.2), so this only stops a buggy or
//!   hostile peer from renaming the node or moving its sync target. `hasync/adminsync` is
//!   read as the flag it is, not stored. Each refused path is listed in
//!   [`MergeReport::ignored`];
//! * `installedpackages` in a restore is ignored (pfSense hands it to package hooks only);
//! * accounts are touched only when both lists are non-empty; pfSense would overlay a lone
//!   `user` list wholesale, admin included;
//! * kept VIPs return in their original order (pfSense reverses them);
//! * voucher rolls are taken from the primary (pfSense merges them by `lastsync`).
//!
//! [`merge_config_section`] overlays recursively and only *updates* what exists locally
//! (PHP `array_overlay`): list items by position, new keys ignored.
//! [`merge_installedpackages_section`] replaces `installedpackages/<key>` for each key.
//! [`backup_config_section`] returns the named top-level sections.

use crate::config::ConfigDocument;
use crate::config::xml::{Element, is_listtag};

use super::tree::{TreeError, element_name, element_to_value, value_to_elements};
use super::value::Value;

/// Sections `restore_config_section` copies over the local ones wholesale (pfSense master
/// `$sync_full_sections`).
pub const FULL_REPLACE_SECTIONS: &[&str] = &[
    "aliases",
    "ca",
    "cert",
    "crl",
    "dhcpd",
    "dhcrelay",
    "dhcrelay6",
    "dnshaper",
    "dnsmasq",
    "filter",
    "ipsec",
    "kea",
    "kea6",
    "nat",
    "openvpn",
    "schedules",
    "shaper",
    "unbound",
    "wol",
];

/// Top-level sections XMLRPC never writes on this node.
pub const NODE_LOCAL_SECTIONS: &[&str] =
    &["interfaces", "hasync", "rampart", "version", "revision"];

/// The `system` children a restore takes from the payload (reference §4.2).
pub const SYSTEM_SYNCED: &[&str] = &["user", "group", "nextuid", "nextgid", "authserver"];

/// Why a payload cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A value cannot become config XML.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A value of the wrong shape where the merge needs a particular one.
    #[error("{path}: expected {expected}, got {got}")]
    Shape {
        /// Where.
        path: String,
        /// What was expected.
        expected: &'static str,
        /// The XML-RPC type received.
        got: &'static str,
    },
    /// The document is not a config any more (cannot happen with a valid root).
    #[error("merged document: {0}")]
    Document(String),
}

/// What a merge did, section by section (paths as received).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Sections replaced wholesale.
    pub replaced: Vec<String>,
    /// Sections overlaid or merged.
    pub merged: Vec<String>,
    /// Paths in the payload that were not applied, with no error (node-local data).
    pub ignored: Vec<String>,
}

impl MergeReport {
    /// pfSense's log line: `Merged in config (filter, nat sections) from XMLRPC client.`
    #[must_use]
    pub fn summary(&self) -> String {
        let mut keys: Vec<&str> = self.merged.iter().map(String::as_str).collect();
        keys.extend(self.replaced.iter().map(String::as_str));
        format!(
            "Merged in config ({} sections) from XMLRPC client.",
            keys.join(", ")
        )
    }
}

/// The parameter as struct members.
fn members<'a>(value: &'a Value, path: &str) -> Result<&'a [(String, Value)], MergeError> {
    match value {
        Value::Struct(m) => Ok(m),
        Value::Array(a) if a.is_empty() => Ok(&[]),
        other => Err(MergeError::Shape {
            path: path.to_owned(),
            expected: "a struct",
            got: other.type_name(),
        }),
    }
}

fn finish(root: Element) -> Result<ConfigDocument, MergeError> {
    ConfigDocument::from_root(root).map_err(|e| MergeError::Document(e.to_string()))
}

/// Replaces every child of `parent` called `name` by what `value` becomes.
fn replace(parent: &mut Element, name: &str, value: &Value) -> Result<(), MergeError> {
    let key = element_name(name, name)?;
    let elements = value_to_elements(name, value)?;
    parent.replace_children_named(&key, elements);
    Ok(())
}

/// The first child called `name`, created at the end when missing. A leaf (`""`) becomes a
/// container.
fn child_container<'a>(parent: &'a mut Element, name: &str) -> &'a mut Element {
    let children = parent.children_mut();
    let at = match children.iter().position(|c| c.name() == name) {
        Some(at) => at,
        None => {
            children.push(Element::new(name));
            children.len() - 1
        }
    };
    let child = &mut children[at];
    child.children_mut();
    child
}

/// PHP's two-level `array_merge_recursive_unique($config, [$name => $value])`.
fn overlay_two_levels(root: &mut Element, name: &str, value: &Value) -> Result<(), MergeError> {
    let key = element_name(name, name)?;
    if !value.is_container() {
        // A scalar replaces the whole section.
        return replace(root, name, value);
    }
    if value.is_empty_section() {
        return Ok(());
    }
    let Value::Struct(members) = value else {
        return Err(MergeError::Shape {
            path: name.to_owned(),
            expected: "a struct",
            got: value.type_name(),
        });
    };
    let section = child_container(root, &key);
    for (k, v) in members {
        let child_key = element_name(k, &format!("{name}/{k}"))?;
        let elements = value_to_elements(k, v).map_err(|e| prefix(e, name))?;
        section.replace_children_named(&child_key, elements);
    }
    Ok(())
}

/// Puts the section name in front of a tree error's path.
fn prefix(e: TreeError, section: &str) -> TreeError {
    let fix = |p: String| format!("{section}/{p}");
    match e {
        TreeError::BadName { path, name } => TreeError::BadName {
            path: fix(path),
            name,
        },
        TreeError::ControlChar { path, code } => TreeError::ControlChar {
            path: fix(path),
            code,
        },
        TreeError::NestedList { path } => TreeError::NestedList { path: fix(path) },
        TreeError::Binary { path } => TreeError::Binary { path: fix(path) },
        TreeError::TooDeep { path } => TreeError::TooDeep { path: fix(path) },
    }
}

/// `pfsense.restore_config_section`: see the module docs.
///
/// # Errors
/// [`MergeError`] when the parameter is not a struct or a value cannot become config XML;
/// the local document is untouched either way.
pub fn restore_config_section(
    local: &ConfigDocument,
    sections: &Value,
) -> Result<(ConfigDocument, MergeReport), MergeError> {
    let sections = members(sections, "sections")?;
    let old = local.root();
    let mut root = old.clone();
    let mut report = MergeReport::default();
    let adminsync = sections
        .iter()
        .find(|(k, _)| k == "hasync")
        .and_then(|(_, v)| v.member("adminsync"))
        // PHP's `!= 'on'`: the string, or `true` (loosely equal to any non-empty string).
        .is_some_and(|v| v.as_str() == Some("on") || *v == Value::Bool(true));

    for (name, value) in sections {
        // Element names are folded to lower case (pfSense's reader does it on the next
        // load), so `Interfaces` is `interfaces` and must be caught as node-local too.
        let key = name.to_ascii_lowercase();
        if NODE_LOCAL_SECTIONS.contains(&key.as_str()) || key == "installedpackages" {
            report.ignored.push(name.clone());
            continue;
        }
        if FULL_REPLACE_SECTIONS.contains(&key.as_str()) {
            replace(&mut root, name, value)?;
            report.replaced.push(name.clone());
            continue;
        }
        match key.as_str() {
            "system" => restore_system(&mut root, old, value, adminsync, &mut report)?,
            "virtualip" => {
                let kept = local_vips(old);
                overlay_two_levels(&mut root, name, value)?;
                if !kept.is_empty() {
                    let section = child_container(&mut root, "virtualip");
                    let mut vips = kept;
                    vips.extend(section.children_named("vip").cloned());
                    section.replace_children_named("vip", vips);
                }
                report.merged.push(name.clone());
            }
            "captiveportal" if value.is_container() => {
                restore_captiveportal(&mut root, old, value)?;
                report.merged.push(name.clone());
            }
            "voucher" if value.is_container() => {
                overlay_two_levels(&mut root, name, value)?;
                keep_local_keys(
                    &mut root,
                    old,
                    "voucher",
                    &["vouchersyncdbip", "vouchersyncusername", "vouchersyncpass"],
                );
                report.merged.push(name.clone());
            }
            _ => {
                overlay_two_levels(&mut root, name, value)?;
                report.merged.push(name.clone());
            }
        }
    }
    for kea in ["kea", "kea6"] {
        if report.replaced.iter().any(|r| r == kea) {
            keep_kea_ha(&mut root, old, kea);
        }
    }
    Ok((finish(root)?, report))
}

/// Local VIPs a restore keeps (pfSense's `$vipbackup`): `ipalias`/`proxyarp` on a real
/// interface, and anything other than CARP on `lo0` that is not an `ipalias`.
fn local_vips(old: &Element) -> Vec<Element> {
    let Some(section) = old.child("virtualip") else {
        return Vec::new();
    };
    section
        .children_named("vip")
        .filter(|vip| {
            let mode = vip.child_text("mode").unwrap_or("");
            let iface = vip.child_text("interface").unwrap_or("");
            let stacked = iface.starts_with("_vip");
            let loopback = iface.contains("lo0");
            match mode {
                "carp" => false,
                "ipalias" if stacked || loopback => false,
                _ => ((mode == "ipalias" || mode == "proxyarp") && !stacked) || loopback,
            }
        })
        .cloned()
        .collect()
}

fn number(e: &Element, name: &str) -> Option<i64> {
    e.child_text(name).and_then(|t| t.trim().parse().ok())
}

fn restore_system(
    root: &mut Element,
    old: &Element,
    value: &Value,
    adminsync: bool,
    report: &mut MergeReport,
) -> Result<(), MergeError> {
    let Value::Struct(members) = value else {
        report.ignored.push("system".into());
        return Ok(());
    };
    let users = value.member("user").filter(|v| v.is_truthy());
    let groups = value.member("group").filter(|v| v.is_truthy());
    let old_system = old.child("system");
    if let (Some(users), Some(groups)) = (users, groups) {
        let users = account_list("system/user", "user", users)?;
        let groups = account_list("system/group", "group", groups)?;
        let local_users: Vec<Element> = old_system
            .map(|s| s.children_named("user").cloned().collect())
            .unwrap_or_default();
        let local_groups: Vec<Element> = old_system
            .map(|s| s.children_named("group").cloned().collect())
            .unwrap_or_default();
        let merged_groups = merge_accounts(local_groups, groups, "gid", 1999, true);
        let merged_users = merge_accounts(local_users, users, "uid", 2000, !adminsync);
        let system = child_container(root, "system");
        system.replace_children_named("group", merged_groups);
        system.replace_children_named("user", merged_users);
    } else {
        for k in ["user", "group"] {
            if value.member(k).is_some() {
                report.ignored.push(format!("system/{k}"));
            }
        }
    }
    for (k, v) in members {
        match k.as_str() {
            "user" | "group" => {}
            "nextuid" | "nextgid" | "authserver" => {
                let system = child_container(root, "system");
                replace(system, k, v).map_err(|e| match e {
                    MergeError::Tree(t) => MergeError::Tree(prefix(t, "system")),
                    other => other,
                })?;
            }
            _ => report.ignored.push(format!("system/{k}")),
        }
    }
    report.merged.push("system".into());
    Ok(())
}

/// The payload's accounts as elements.
fn account_list(path: &str, name: &str, value: &Value) -> Result<Vec<Element>, MergeError> {
    let Some(items) = value.as_list() else {
        return Err(MergeError::Shape {
            path: path.to_owned(),
            expected: "a list",
            got: value.type_name(),
        });
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if !matches!(item, Value::Struct(_)) {
            return Err(MergeError::Shape {
                path: format!("{path}/{i}"),
                expected: "a struct",
                got: item.type_name(),
            });
        }
        let elements = value_to_elements(name, item).map_err(|e| prefix(e, "system"))?;
        out.extend(elements);
    }
    Ok(out)
}

/// pfSense's account sync (`restore_config_section` + `local_sync_accounts`): by name;
/// `id_name` (`uid`/`gid`) below `special` means a built-in account that stays local
/// when `keep_special`; local accounts the payload lacks are deleted unless built-in or
/// above 65000; the result is sorted by name.
fn merge_accounts(
    local: Vec<Element>,
    remote: Vec<Element>,
    id_name: &str,
    special: i64,
    keep_special: bool,
) -> Vec<Element> {
    let name = |e: &Element| e.child_text("name").unwrap_or("").to_owned();
    // A missing id compares below any number in PHP (null < 2000).
    let id = |e: &Element| number(e, id_name).unwrap_or(i64::MIN);
    let mut out: Vec<Element> = Vec::with_capacity(local.len().max(remote.len()));
    for l in &local {
        match remote.iter().find(|r| name(r) == name(l)) {
            Some(r) if keep_special && id(r) < special => out.push(l.clone()),
            Some(r) => out.push(r.clone()),
            None if id(l) < special || id(l) > 65000 => out.push(l.clone()),
            None => {}
        }
    }
    for r in remote {
        if !local.iter().any(|l| name(l) == name(&r)) {
            out.push(r);
        }
    }
    // PHP's usort with strcmp; stable here.
    out.sort_by_key(|a| name(a));
    out
}

fn restore_captiveportal(
    root: &mut Element,
    old: &Element,
    value: &Value,
) -> Result<(), MergeError> {
    let mut elements = value_to_elements("captiveportal", value)?;
    for cp in &mut elements {
        for zone in cp.children_mut() {
            let local_zone = old
                .child("captiveportal")
                .and_then(|c| c.child(zone.name()));
            for key in [
                "enablebackwardsync",
                "backwardsyncip",
                "backwardsyncuser",
                "backwardsyncpassword",
            ] {
                match local_zone.and_then(|z| z.child(key)) {
                    Some(local) => {
                        zone.set_child(local.clone());
                    }
                    None => {
                        zone.remove_children_named(key);
                    }
                }
            }
        }
    }
    root.replace_children_named("captiveportal", elements);
    Ok(())
}

/// For every zone under `section`, puts back the local values of `keys` (or removes them
/// when the local zone has none).
fn keep_local_keys(root: &mut Element, old: &Element, section: &str, keys: &[&str]) {
    let Some(new) = root.child_mut(section) else {
        return;
    };
    for zone in new.children_mut() {
        let local_zone = old.child(section).and_then(|c| c.child(zone.name()));
        for key in keys {
            match local_zone.and_then(|z| z.child(key)) {
                Some(local) => {
                    zone.set_child(local.clone());
                }
                None => {
                    zone.remove_children_named(key);
                }
            }
        }
    }
}

/// Kea HA settings that stay local after `kea`/`kea6` is replaced.
fn keep_kea_ha(root: &mut Element, old: &Element, kea: &str) {
    let old_ha = old.child(kea).and_then(|k| k.child("ha"));
    let Some(section) = root.child_mut(kea) else {
        return;
    };
    if section.children().is_empty() {
        return;
    }
    let ha = child_container(section, "ha");
    let old_text = |name: &str| {
        old_ha
            .and_then(|h| h.child_text(name))
            .filter(|t| !t.is_empty())
    };
    let set_or_remove = |ha: &mut Element, name: &str, value: Option<&str>| match value {
        Some(v) => {
            ha.set_child(Element::with_text(name, v));
        }
        None => {
            ha.remove_children_named(name);
        }
    };
    if old_ha.is_some_and(|h| h.has_child("tls")) {
        ha.set_child(Element::new("tls"));
        set_or_remove(ha, "scertref", old_text("scertref"));
        if old_ha.is_some_and(|h| h.has_child("mutualtls")) {
            ha.set_child(Element::new("mutualtls"));
            set_or_remove(ha, "ccertref", old_text("ccertref"));
        }
    } else {
        for name in ["tls", "scertref", "mutualtls", "ccertref"] {
            ha.remove_children_named(name);
        }
    }
    set_or_remove(ha, "localname", old_text("localname"));
}

/// `pfsense.merge_config_section`: see the module docs.
///
/// # Errors
/// [`MergeError`] when the parameter is not a struct or a value cannot become config XML.
pub fn merge_config_section(
    local: &ConfigDocument,
    section: &Value,
) -> Result<(ConfigDocument, MergeReport), MergeError> {
    let members = members(section, "section")?;
    let mut report = MergeReport::default();
    let mut allowed = Vec::with_capacity(members.len());
    for (k, v) in members {
        if NODE_LOCAL_SECTIONS.contains(&k.to_ascii_lowercase().as_str()) {
            report.ignored.push(k.clone());
        } else {
            if local.root().has_child(k) {
                report.merged.push(k.clone());
            }
            allowed.push((k.clone(), v.clone()));
        }
    }
    let mut root = local.root().clone();
    overlay(&mut root, &Value::Struct(allowed), "")?;
    Ok((finish(root)?, report))
}

/// PHP `array_overlay($local, $payload)`: only keys present locally are updated; two
/// containers recurse, anything else is replaced.
fn overlay(local: &mut Element, payload: &Value, path: &str) -> Result<(), MergeError> {
    let keyed: Vec<(String, &Value)> = match payload {
        Value::Struct(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return Ok(()),
    };
    let find = |k: &str| keyed.iter().rev().find(|(n, _)| n == k).map(|(_, v)| *v);
    let old = std::mem::take(local.children_mut());
    let mut out = Vec::with_capacity(old.len());
    let mut done: Vec<&str> = Vec::new();
    for child in &old {
        let name = child.name();
        let Some(pv) = find(name) else {
            out.push(child.clone());
            continue;
        };
        if done.contains(&name) {
            continue;
        }
        done.push(name);
        let child_path = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}/{name}")
        };
        let group: Vec<&Element> = old.iter().filter(|c| c.name() == name).collect();
        if is_listtag(name) || group.len() > 1 {
            // A PHP list: items overlay by position.
            if pv.is_container() {
                let wrapped = Value::Struct(vec![]);
                let items_value = if pv.as_list().is_some() { pv } else { &wrapped };
                let item_at = |i: usize| -> Option<&Value> {
                    match items_value {
                        Value::Array(a) => a.get(i),
                        Value::Struct(m) => m
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == i.to_string())
                            .map(|(_, v)| v),
                        _ => None,
                    }
                };
                for (i, item) in group.iter().enumerate() {
                    match item_at(i) {
                        Some(piv) => {
                            out.extend(overlay_item(item, name, piv, &format!("{child_path}/{i}"))?)
                        }
                        None => out.push((*item).clone()),
                    }
                }
            } else {
                out.extend(value_to_elements(name, pv).map_err(|e| prefix_path(e, path))?);
            }
        } else {
            out.extend(overlay_item(child, name, pv, &child_path)?);
        }
    }
    *local.children_mut() = out;
    Ok(())
}

fn prefix_path(e: TreeError, path: &str) -> TreeError {
    if path.is_empty() { e } else { prefix(e, path) }
}

fn overlay_item(
    item: &Element,
    name: &str,
    payload: &Value,
    path: &str,
) -> Result<Vec<Element>, MergeError> {
    if !item.children().is_empty() && payload.is_container() {
        let mut merged = item.clone();
        overlay(&mut merged, payload, path)?;
        Ok(vec![merged])
    } else {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        Ok(value_to_elements(name, payload).map_err(|e| prefix_path(e, parent))?)
    }
}

/// `pfsense.merge_installedpackages_section`: each member replaces
/// `installedpackages/<member>` (the section is created when missing).
///
/// # Errors
/// [`MergeError`] when the parameter is not a struct or a value cannot become config XML.
pub fn merge_installedpackages_section(
    local: &ConfigDocument,
    section: &Value,
) -> Result<(ConfigDocument, MergeReport), MergeError> {
    let members = members(section, "section")?;
    let mut root = local.root().clone();
    let mut report = MergeReport::default();
    let pkgs = child_container(&mut root, "installedpackages");
    for (k, v) in members {
        let key = element_name(k, &format!("installedpackages/{k}"))?;
        let elements = value_to_elements(k, v).map_err(|e| prefix(e, "installedpackages"))?;
        pkgs.replace_children_named(&key, elements);
        report.merged.push(format!("installedpackages/{k}"));
    }
    Ok((finish(root)?, report))
}

/// `pfsense.backup_config_section`: the named top-level sections present locally, in
/// config order (PHP `array_intersect_key`). Secrets are returned as stored, as pfSense does.
#[must_use]
pub fn backup_config_section(local: &ConfigDocument, names: &[String]) -> Value {
    match element_to_value(local.root()) {
        Value::Struct(members) => Value::Struct(
            members
                .into_iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .collect(),
        ),
        // A root without children.
        _ => Value::Struct(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xml::write_fragment;

    fn doc(body: &str) -> ConfigDocument {
        ConfigDocument::parse(
            format!("<pfsense><version>23.3</version>{body}</pfsense>").as_bytes(),
        )
        .unwrap()
    }

    fn section(d: &ConfigDocument, name: &str) -> String {
        d.section(name)
            .map(|s| write_fragment(s, 0))
            .unwrap_or_default()
    }

    fn rule(descr: &str) -> Value {
        Value::structure([("type", Value::str("pass")), ("descr", Value::str(descr))])
    }

    #[test]
    fn test_full_replace_even_when_empty() {
        let local = doc(
            "<filter><rule><descr>local</descr></rule><separator><x>1</x></separator></filter><schedules><schedule><name>s</name></schedule></schedules>",
        );
        let payload = Value::structure([
            (
                "filter",
                Value::structure([("rule", Value::Array(vec![rule("a"), rule("b")]))]),
            ),
            ("schedules", Value::str("")),
        ]);
        let (new, report) = restore_config_section(&local, &payload).unwrap();
        assert_eq!(report.replaced, ["filter", "schedules"]);
        let f = new.section("filter").unwrap();
        assert_eq!(f.children_named("rule").count(), 2);
        assert!(f.child("separator").is_none(), "replaced wholesale");
        assert!(new.section("schedules").unwrap().is_empty());
        // Deleting the last rule: an empty section arrives.
        let payload = Value::structure([("filter", Value::Array(vec![]))]);
        let (new, _) = restore_config_section(&local, &payload).unwrap();
        assert!(new.section("filter").unwrap().is_empty());
    }

    #[test]
    fn test_two_level_overlay() {
        let local = doc(
            "<gateways><gateway_item><name>A</name></gateway_item><defaultgw4>A</defaultgw4><gateway_group><name>G</name></gateway_group></gateways><staticroutes><route><network>10.0.0.0/8</network></route></staticroutes>",
        );
        let payload = Value::structure([
            (
                "gateways",
                Value::structure([
                    (
                        "gateway_item",
                        Value::Array(vec![Value::structure([("name", Value::str("B"))])]),
                    ),
                    ("defaultgw4", Value::str("B")),
                ]),
            ),
            (
                "staticroutes",
                Value::structure([("route", Value::Array(vec![]))]),
            ),
        ]);
        let (new, report) = restore_config_section(&local, &payload).unwrap();
        assert_eq!(report.merged, ["gateways", "staticroutes"]);
        assert_eq!(
            section(&new, "gateways"),
            "<gateways>\n\t<gateway_item>\n\t\t<name>B</name>\n\t</gateway_item>\n\t<defaultgw4>B</defaultgw4>\n\t<gateway_group>\n\t\t<name>G</name>\n\t</gateway_group>\n</gateways>\n"
        );
        assert!(new.section("staticroutes").unwrap().is_empty());
        // An empty container changes nothing; a scalar "" empties the section.
        let payload = Value::structure([("gateways", Value::Array(vec![]))]);
        let (new, _) = restore_config_section(&local, &payload).unwrap();
        assert_eq!(new, local);
        let payload = Value::structure([("gateways", Value::str(""))]);
        let (new, _) = restore_config_section(&local, &payload).unwrap();
        assert!(new.section("gateways").unwrap().is_empty());
    }

    #[test]
    fn test_node_local_sections_kept() {
        let local = doc(
            "<system><hostname>fw-b</hostname><timezone>UTC</timezone></system><interfaces><wan><if>a</if></wan></interfaces><hasync><pfsyncenabled>on</pfsyncenabled></hasync><rampart><workers>1</workers></rampart>",
        );
        let payload = Value::structure([
            (
                "interfaces",
                Value::structure([("wan", Value::structure([("if", Value::str("evil"))]))]),
            ),
            (
                "hasync",
                Value::structure([
                    ("synchronizetoip", Value::str("1.2.3.4")),
                    ("adminsync", Value::str("on")),
                ]),
            ),
            ("rampart", Value::str("")),
            ("Interfaces", Value::str("")),
            ("version", Value::str("99.0")),
            (
                "installedpackages",
                Value::structure([("x", Value::str(""))]),
            ),
            (
                "system",
                Value::structure([
                    ("hostname", Value::str("evil")),
                    ("nextuid", Value::str("2001")),
                ]),
            ),
        ]);
        let (new, report) = restore_config_section(&local, &payload).unwrap();
        assert_eq!(
            report.ignored,
            [
                "interfaces",
                "hasync",
                "rampart",
                "Interfaces",
                "version",
                "installedpackages",
                "system/hostname"
            ]
        );
        assert_eq!(new.section("interfaces"), local.section("interfaces"));
        assert_eq!(new.section("hasync"), local.section("hasync"));
        assert_eq!(new.section("rampart"), local.section("rampart"));
        assert_eq!(new.version(), Some("23.3"));
        let system = new.section("system").unwrap();
        assert_eq!(system.child_text("hostname"), Some("fw-b"));
        assert_eq!(system.child_text("nextuid"), Some("2001"));
        assert!(new.section("installedpackages").is_none());
    }

    fn user(name: &str, uid: &str, hash: &str) -> Value {
        Value::structure([
            ("name", Value::str(name)),
            ("uid", Value::str(uid)),
            ("bcrypt-hash", Value::str(hash)),
        ])
    }

    fn group(name: &str, gid: &str, priv_: &str) -> Value {
        Value::structure([
            ("name", Value::str(name)),
            ("gid", Value::str(gid)),
            ("priv", Value::Array(vec![Value::str(priv_)])),
        ])
    }

    #[test]
    fn test_accounts_merge() {
        let local = doc("<system><hostname>b</hostname>\
             <group><name>all</name><gid>1998</gid><priv>local</priv></group>\
             <group><name>old</name><gid>2005</gid></group>\
             <user><name>admin</name><uid>0</uid><bcrypt-hash>B</bcrypt-hash></user>\
             <user><name>gone</name><uid>2003</uid></user>\
             <user><name>svc</name><uid>65534</uid></user>\
             <nextuid>2004</nextuid></system>");
        let payload = |adminsync: bool| {
            let mut s = vec![(
                "system".to_owned(),
                Value::structure([
                    (
                        "user",
                        Value::Array(vec![user("zed", "2000", "Z"), user("admin", "0", "A")]),
                    ),
                    ("nextuid", Value::str("2001")),
                    (
                        "group",
                        Value::Array(vec![
                            group("all", "1998", "remote"),
                            group("admins", "1999", "page-all"),
                        ]),
                    ),
                ]),
            )];
            if adminsync {
                s.push((
                    "hasync".into(),
                    Value::structure([("adminsync", Value::str("on"))]),
                ));
            }
            Value::Struct(s)
        };
        let (new, _) = restore_config_section(&local, &payload(false)).unwrap();
        let system = new.section("system").unwrap();
        let users: Vec<_> = system
            .children_named("user")
            .map(|u| {
                (
                    u.child_text("name").unwrap(),
                    u.child_text("bcrypt-hash").unwrap_or(""),
                )
            })
            .collect();
        // admin kept local (no adminsync), gone deleted, svc (uid > 65000) kept, zed added; sorted.
        assert_eq!(users, [("admin", "B"), ("svc", ""), ("zed", "Z")]);
        let groups: Vec<_> = system
            .children_named("group")
            .map(|g| {
                (
                    g.child_text("name").unwrap(),
                    g.child("priv").unwrap().text().to_owned(),
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0], ("admins", "page-all".to_owned()));
        assert_eq!(
            groups[1],
            ("all", "local".to_owned()),
            "gid < 1999 stays local"
        );
        assert_eq!(system.child_text("nextuid"), Some("2001"));
        assert_eq!(system.child_text("hostname"), Some("b"));
        let (new, _) = restore_config_section(&local, &payload(true)).unwrap();
        let admin = new
            .section("system")
            .unwrap()
            .children_named("user")
            .next()
            .unwrap();
        assert_eq!(
            admin.child_text("bcrypt-hash"),
            Some("A"),
            "adminsync takes the primary's admin"
        );
        assert!(new.section("hasync").is_none(), "adminsync is not stored");
    }

    #[test]
    fn test_vips_keep_local_aliases() {
        let local = doc("<virtualip>\
             <vip><mode>carp</mode><interface>wan</interface><vhid>1</vhid><advskew>0</advskew></vip>\
             <vip><mode>ipalias</mode><interface>lan</interface><subnet>10.0.0.9</subnet></vip>\
             <vip><mode>ipalias</mode><interface>_vipabc</interface><subnet>1.2.3.4</subnet></vip>\
             <vip><mode>proxyarp</mode><interface>wan</interface><subnet>5.6.7.8</subnet></vip>\
             </virtualip>");
        let payload = Value::structure([(
            "virtualip",
            Value::structure([(
                "vip",
                Value::structure([
                    (
                        "0",
                        Value::structure([
                            ("mode", Value::str("carp")),
                            ("interface", Value::str("wan")),
                            ("advskew", Value::Int(100)),
                        ]),
                    ),
                    (
                        "3",
                        Value::structure([
                            ("mode", Value::str("ipalias")),
                            ("interface", Value::str("_vipabc")),
                            ("subnet", Value::str("1.2.3.5")),
                        ]),
                    ),
                ]),
            )]),
        )]);
        let (new, _) = restore_config_section(&local, &payload).unwrap();
        let vips: Vec<_> = new
            .section("virtualip")
            .unwrap()
            .children_named("vip")
            .map(|v| {
                format!(
                    "{}@{}:{}",
                    v.child_text("mode").unwrap(),
                    v.child_text("interface").unwrap(),
                    v.child_text("subnet").or(v.child_text("advskew")).unwrap()
                )
            })
            .collect();
        assert_eq!(
            vips,
            [
                "ipalias@lan:10.0.0.9",
                "proxyarp@wan:5.6.7.8",
                "carp@wan:100",
                "ipalias@_vipabc:1.2.3.5"
            ]
        );
    }

    #[test]
    fn test_captiveportal_and_kea_keep_local_settings() {
        let local = doc(
            "<captiveportal><zone1><enable/><backwardsyncip>10.9.9.9</backwardsyncip></zone1><zone2><enable/></zone2></captiveportal>\
             <kea><ha><tls/><scertref>S</scertref><localname>fw-b</localname><role>standby</role></ha></kea>",
        );
        let payload = Value::structure([
            (
                "captiveportal",
                Value::structure([(
                    "zone1",
                    Value::structure([
                        ("enable", Value::str("")),
                        ("backwardsyncuser", Value::str("u")),
                    ]),
                )]),
            ),
            (
                "kea",
                Value::structure([(
                    "ha",
                    Value::structure([
                        ("role", Value::str("standby")),
                        ("remotename", Value::str("fw-a")),
                    ]),
                )]),
            ),
        ]);
        let (new, _) = restore_config_section(&local, &payload).unwrap();
        assert_eq!(
            section(&new, "captiveportal"),
            "<captiveportal>\n\t<zone1>\n\t\t<enable></enable>\n\t\t<backwardsyncip>10.9.9.9</backwardsyncip>\n\t</zone1>\n</captiveportal>\n"
        );
        let ha = new.section("kea").unwrap().child("ha").unwrap();
        assert!(ha.has_child("tls"));
        assert_eq!(ha.child_text("scertref"), Some("S"));
        assert_eq!(ha.child_text("localname"), Some("fw-b"));
        assert_eq!(ha.child_text("remotename"), Some("fw-a"));
    }

    #[test]
    fn test_restore_refuses_bad_payloads() {
        let local = doc("<filter></filter>");
        for bad in [
            Value::str(""),
            Value::Array(vec![Value::str("x")]),
            Value::Int(1),
        ] {
            assert!(matches!(
                restore_config_section(&local, &bad),
                Err(MergeError::Shape { .. })
            ));
        }
        let ctl = Value::structure([(
            "filter",
            Value::structure([("rule", Value::Array(vec![rule("a\u{1b}")]))]),
        )]);
        assert_eq!(
            restore_config_section(&local, &ctl)
                .unwrap_err()
                .to_string(),
            "filter/rule/0/descr: control character U+001B in text"
        );
        let ctl = Value::structure([("gateways", Value::structure([("x", Value::str("\u{0}"))]))]);
        assert_eq!(
            restore_config_section(&local, &ctl)
                .unwrap_err()
                .to_string(),
            "gateways/x: control character U+0000 in text"
        );
    }

    #[test]
    fn test_merge_config_section_updates_existing_only() {
        let local = doc(
            "<system><timezone>UTC</timezone><webgui><port>443</port></webgui></system>\
             <filter><rule><descr>a</descr><log/></rule><rule><descr>b</descr></rule></filter><hasync><x>1</x></hasync>",
        );
        let payload = Value::structure([
            (
                "system",
                Value::structure([
                    ("timezone", Value::str("Etc/UTC")),
                    ("newkey", Value::str("ignored")),
                    ("webgui", Value::structure([("port", Value::Int(8443))])),
                ]),
            ),
            (
                "filter",
                Value::structure([(
                    "rule",
                    Value::structure([("1", Value::structure([("descr", Value::str("B"))]))]),
                )]),
            ),
            ("nothere", Value::str("x")),
            ("hasync", Value::structure([("x", Value::str("2"))])),
        ]);
        let (new, report) = merge_config_section(&local, &payload).unwrap();
        assert_eq!(report.ignored, ["hasync"]);
        let system = new.section("system").unwrap();
        assert_eq!(system.child_text("timezone"), Some("Etc/UTC"));
        assert!(system.child("newkey").is_none());
        assert_eq!(
            system.child("webgui").unwrap().child_text("port"),
            Some("8443")
        );
        let descrs: Vec<_> = new
            .section("filter")
            .unwrap()
            .children()
            .iter()
            .map(|r| r.child_text("descr").unwrap())
            .collect();
        assert_eq!(descrs, ["a", "B"]);
        assert!(new.section("filter").unwrap().children()[0].has_child("log"));
        assert!(new.section("nothere").is_none());
        assert_eq!(new.section("hasync"), local.section("hasync"));
    }

    #[test]
    fn test_installedpackages_and_backup() {
        let local = doc(
            "<filter><rule><descr>a</descr></rule></filter><cert><refid>1</refid></cert><cert><refid>2</refid></cert>",
        );
        let payload =
            Value::structure([("haproxy", Value::structure([("enable", Value::str("yes"))]))]);
        let (new, report) = merge_installedpackages_section(&local, &payload).unwrap();
        assert_eq!(report.merged, ["installedpackages/haproxy"]);
        assert_eq!(
            section(&new, "installedpackages"),
            "<installedpackages>\n\t<haproxy>\n\t\t<enable>yes</enable>\n\t</haproxy>\n</installedpackages>\n"
        );
        let backup =
            backup_config_section(&new, &["cert".into(), "missing".into(), "filter".into()]);
        let Value::Struct(m) = &backup else { panic!() };
        let names: Vec<_> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["filter", "cert"]);
        assert_eq!(
            backup
                .member("cert")
                .and_then(Value::as_list)
                .map(|l| l.len()),
            Some(2)
        );
        // Restoring the backup of a top-level list (cert) puts it back as it was.
        let (again, _) = restore_config_section(&local, &backup).unwrap();
        assert_eq!(again, local);
    }
}
