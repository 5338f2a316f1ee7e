//! The status file of a running `vproc serve` (`/run/vproc/serve/<mountpoint>.status`): the
//! supervisor's pid, its worker's pid and the generation, for `vproc upgrade`, `vproc status`
//! and tests. Next to it: the load state (`.load`) and the container slots (`.slots`).

use std::path::{Path, PathBuf};

/// Where the supervisor serving `mountpoint` records its state.
pub fn status_path(mountpoint: &Path) -> PathBuf {
    vproc_mount::devices::state_file(mountpoint, "status")
}

/// Where the load averages are saved for the next worker.
pub fn load_path(mountpoint: &Path) -> PathBuf {
    status_path(mountpoint).with_extension("load")
}

/// Where the worker answers `GET /status` and `GET /metrics` (a unix socket).
pub fn control_path(mountpoint: &Path) -> PathBuf {
    status_path(mountpoint).with_extension("sock")
}

/// Where the container slots are recorded for the next worker.
pub fn slots_path(mountpoint: &Path) -> PathBuf {
    status_path(mountpoint).with_extension("slots")
}

/// Removes the status, load and slots files of `mountpoint`.
pub fn remove_all(mountpoint: &Path) {
    for p in [
        control_path(mountpoint),
        load_path(mountpoint),
        slots_path(mountpoint),
        status_path(mountpoint),
    ] {
        let _ = std::fs::remove_file(p);
    }
}

/// The recorded state of a running supervisor. A supervisor that stops while systemd's fd
/// store keeps the connections leaves its history behind with pid 0, for the next instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The supervisor's pid (0: stopped, connections in the fd store).
    pub supervisor: i32,
    /// The current worker's pid.
    pub worker: i32,
    /// How many workers have been started (1 for the first).
    pub generation: u64,
    /// When the daemon first started, in seconds since the epoch (kept across upgrades and
    /// fd-store restarts).
    pub started: u64,
    /// Workers (or whole services) restarted because one died.
    pub crashes: u64,
    /// Upgrades the connections survived.
    pub upgrades: u64,
    /// Service restarts the connections survived in systemd's fd store.
    pub restarts: u64,
    /// Upgrades refused (the binary on disk could not take over; the daemon's log says why):
    /// `vproc upgrade` stops waiting when this grows.
    pub refusals: u64,
}

/// Now, in seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Status {
    /// Reads the status file of the daemon serving `mountpoint`, if one runs.
    pub fn read(mountpoint: &Path) -> Option<Status> {
        Self::history(mountpoint).filter(|s| s.supervisor > 0)
    }

    /// Reads the status file, also when it is a stopped daemon's history.
    pub fn history(mountpoint: &Path) -> Option<Status> {
        let text = std::fs::read_to_string(status_path(mountpoint)).ok()?;
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        // Files from before these were recorded lack them.
        let counter = |k: &str| field(k).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        Some(Status {
            supervisor: i32::try_from(field("supervisor ")?).ok()?,
            worker: i32::try_from(field("worker ")?).ok()?,
            generation: u64::try_from(field("generation ")?).ok()?,
            started: counter("started "),
            crashes: counter("crashes "),
            upgrades: counter("upgrades "),
            restarts: counter("restarts "),
            refusals: counter("refusals "),
        })
    }

    /// Writes it atomically (a reader never sees half a file).
    pub fn write(&self, mountpoint: &Path) {
        let path = status_path(mountpoint);
        let text = format!(
            "supervisor {}\nworker {}\ngeneration {}\nstarted {}\ncrashes {}\nupgrades {}\nrestarts {}\nrefusals {}\n",
            self.supervisor,
            self.worker,
            self.generation,
            self.started,
            self.crashes,
            self.upgrades,
            self.restarts,
            self.refusals
        );
        let tmp = path.with_extension("tmp");
        let ok = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&tmp, text))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = ok {
            tracing::warn!(error = %e, path = %path.display(), "writing the status file");
        }
    }
}
