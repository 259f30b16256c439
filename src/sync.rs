//! The sync core's settings from `config.xml`: pfsync on or off (`<hasync>`), the frame key
//! and the state format (`<rampart>`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rampart_control::config::{Config, PfsyncVersion};
use rampart_sync::auth::{KeyTooShort, SyncKey};
use rampart_sync::frames::StateFormat;
use rampart_sync::lcore::SyncSettings;

use crate::setup::sync_interface;

/// What the sync core runs with, or `None` when `<hasync><pfsyncenabled>` is off; setting
/// `list_request` makes it write every state to `list_path`, setting `resync_request` makes
/// it ask the peer for a bulk update.
///
/// # Errors
/// [`KeyTooShort`] for a `<rampart><synckey>` too short to use (validation refuses it first).
pub fn settings(
    config: &Config,
    list_request: Arc<AtomicBool>,
    list_path: PathBuf,
    resync_request: Arc<AtomicBool>,
) -> Result<Option<SyncSettings>, KeyTooShort> {
    if sync_interface(config).is_none() {
        return Ok(None);
    }
    let rampart = config.rampart.as_ref();
    let key = rampart
        .and_then(|r| r.sync_key.as_deref())
        .map(|k| SyncKey::new(k.as_bytes()))
        .transpose()?;
    let format = match rampart.map(|r| r.pfsync_version).unwrap_or_default() {
        PfsyncVersion::V1301 => StateFormat::V1301,
        PfsyncVersion::V1400 => StateFormat::V1400,
    };
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    Ok(Some(SyncSettings {
        key,
        format,
        epoch,
        list_request,
        list_path,
        resync_request,
    }))
}
