//! The OCI hook (`createContainer` stage) for podman, CRI-O and containerd (through NRI's hook
//! injector): the runtime runs it in the container's mount namespace before `pivot_root`, with
//! the OCI state on stdin. It binds the container's own view files (named by the init's pid,
//! which the state carries, see [`crate::state_pid`]) onto `<rootfs>/proc/...` and
//! `<rootfs>/sys/devices/system/cpu/...`, skipping files the config already mounts.

use crate::state_pid;
use crate::views::{attach_views, open_views, open_views_of};
use crate::Error;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The fields of the OCI state the hook reads.
#[derive(Debug, Deserialize)]
pub struct State {
    /// The bundle directory (holds `config.json`).
    pub bundle: PathBuf,
    /// The container's init, which exists at `createContainer` (its files are named by it).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The container's annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Config {
    root: Root,
    #[serde(default)]
    mounts: Vec<Mount>,
}

#[derive(Debug, Deserialize)]
struct Root {
    path: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Mount {
    destination: PathBuf,
}

/// Why the hook did nothing, or failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// stdin or config.json is not what the OCI spec says.
    #[error("{0}")]
    Input(String),
    /// Putting the views in failed (daemon not serving, ...).
    #[error(transparent)]
    Views(#[from] Error),
}

/// Parses the OCI state the runtime passes on stdin.
pub fn parse_state(json: &[u8]) -> Result<State, HookError> {
    serde_json::from_slice(json)
        .map_err(|e| HookError::Input(format!("bad OCI state on stdin: {e}")))
}

/// Parses the fields of a bundle's `config.json` the hook reads: the rootfs and the mount
/// destinations.
pub fn parse_config(json: &[u8]) -> Result<(PathBuf, Vec<PathBuf>), HookError> {
    let c: Config = serde_json::from_slice(json)
        .map_err(|e| HookError::Input(format!("bad config.json: {e}")))?;
    Ok((
        c.root.path,
        c.mounts.into_iter().map(|m| m.destination).collect(),
    ))
}

/// Runs the hook on `state_json`; returns the targets bound.
pub fn run(state_json: &[u8], source: &Path) -> Result<Vec<PathBuf>, HookError> {
    let state = parse_state(state_json)?;
    let config_path = state.bundle.join("config.json");
    let text = std::fs::read(&config_path)
        .map_err(|e| HookError::Input(format!("{}: {e}", config_path.display())))?;
    let config: Config = serde_json::from_slice(&text)
        .map_err(|e| HookError::Input(format!("{}: {e}", config_path.display())))?;
    let rootfs = if config.root.path.is_absolute() {
        config.root.path
    } else {
        state.bundle.join(config.root.path)
    };
    // The container's own files where the source has them (`by-pid/<init>`), else the
    // per-reader ones. runc names its init as the container sees it (1), crun 1.8 not at all.
    let init = state_pid::container_init(Path::new("/proc"), state.pid);
    let views = match init {
        Some(pid) => open_views_of(source, pid)?,
        None => open_views(source)?,
    };
    // A file the config mounts itself (e.g. lxcfs's, or the user's) is left as configured.
    let wanted: Vec<_> = views
        .into_iter()
        .filter(|v| {
            !config
                .mounts
                .iter()
                .any(|m| m.destination == Path::new("/").join(v.rel))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(attach_views(&wanted, &rootfs)?)
}
