//! Persistent CARP maintenance mode, as pfSense's (carp.md §3.8): every vhid advertises
//! with advskew 254 (sent as 240 after FreeBSD's clamp), so the peer takes the VIPs and
//! keeps them across a reboot of this node until the operator leaves maintenance.
//!
//! The machine holds the flag (`Event::Maintenance`, `Machine::maintenance`); this module
//! holds the record the caller writes to disk when the flag changes and reads at start,
//! before any vhid leaves INIT. The record is node-wide, as pfSense's
//! `virtualip_carp_maintenancemode`. It is node-local state, not configuration, so it
//! lives in its own small file rather than in the synced config.
//!
//! File format: UTF-8 lines `key=value`; `#` starts a comment; unknown keys are ignored
//! so later versions can add some. Today one key: `maintenance=on|off`. A missing file
//! means off.

use std::io;
use std::path::{Path, PathBuf};

/// What survives a restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceRecord {
    /// Whether maintenance mode is on.
    pub enabled: bool,
}

/// A record file that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A line is not `key=value`.
    #[error("line {line}: expected key=value")]
    NotKeyValue {
        /// 1-based line number.
        line: usize,
    },
    /// `maintenance` is neither `on` nor `off`.
    #[error("line {line}: maintenance must be on or off, not {value:?}")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// What was there.
        value: String,
    },
}

impl MaintenanceRecord {
    /// The file contents.
    pub fn to_text(&self) -> String {
        let value = if self.enabled { "on" } else { "off" };
        format!(
            "# rampart CARP maintenance mode (pfSense style), node-local\nmaintenance={value}\n"
        )
    }

    /// Reads file contents.
    ///
    /// # Errors
    /// [`RecordError`] for a malformed line or value.
    pub fn parse(text: &str) -> Result<MaintenanceRecord, RecordError> {
        let mut record = MaintenanceRecord::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or(RecordError::NotKeyValue { line: i + 1 })?;
            if key.trim() == "maintenance" {
                record.enabled = match value.trim() {
                    "on" => true,
                    "off" => false,
                    other => {
                        return Err(RecordError::BadValue {
                            line: i + 1,
                            value: other.to_owned(),
                        });
                    }
                };
            }
        }
        Ok(record)
    }
}

/// Reading or writing the record file failed.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file's contents are malformed.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: RecordError,
    },
}

/// Reads the record at `path`; a missing file is maintenance off.
///
/// # Errors
/// [`PersistError`] if the file exists but cannot be read or parsed.
pub fn load(path: &Path) -> Result<MaintenanceRecord, PersistError> {
    match std::fs::read_to_string(path) {
        Ok(text) => MaintenanceRecord::parse(&text).map_err(|source| PersistError::Format {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(MaintenanceRecord::default()),
        Err(source) => Err(PersistError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes the record to `path` atomically (a temporary file beside it, then a rename), so a
/// crash leaves the old record or the new one, never half of one.
///
/// # Errors
/// [`PersistError::Io`] if writing or renaming fails.
pub fn store(path: &Path, record: &MaintenanceRecord) -> Result<(), PersistError> {
    let io_err = |source| PersistError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, record.to_text()).map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_text_round_trip() {
        for enabled in [false, true] {
            let r = MaintenanceRecord { enabled };
            assert_eq!(MaintenanceRecord::parse(&r.to_text()), Ok(r));
        }
        assert_eq!(
            MaintenanceRecord::parse("\n# x\n future = 3 \nmaintenance = on # why\n"),
            Ok(MaintenanceRecord { enabled: true })
        );
        assert_eq!(
            MaintenanceRecord::parse("maintenance"),
            Err(RecordError::NotKeyValue { line: 1 })
        );
        assert!(matches!(
            MaintenanceRecord::parse("maintenance=yes"),
            Err(RecordError::BadValue { line: 1, .. })
        ));
    }

    #[test]
    fn test_store_and_load() {
        let dir = std::env::temp_dir().join(format!("rampart-carp-maint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("carp-maintenance");
        assert_eq!(load(&path).unwrap(), MaintenanceRecord::default());
        store(&path, &MaintenanceRecord { enabled: true }).unwrap();
        assert!(load(&path).unwrap().enabled);
        store(&path, &MaintenanceRecord { enabled: false }).unwrap();
        assert!(!load(&path).unwrap().enabled);
        std::fs::write(&path, "maintenance=maybe\n").unwrap();
        assert!(matches!(load(&path), Err(PersistError::Format { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
