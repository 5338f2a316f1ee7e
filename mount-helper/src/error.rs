//! The helper's errors: each names the path or pid it is about.

use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A view is missing from the source tree (no daemon mounted there?).
    #[error("{path} does not exist: is vproc serving at {source_dir}?")]
    MissingSource {
        /// The missing view.
        path: PathBuf,
        /// The source tree.
        source_dir: PathBuf,
    },
    /// The source is a dead FUSE mount.
    #[error("{path}: the daemon behind it is gone (Transport endpoint is not connected); restart vproc serve")]
    DeadSource {
        /// The view.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{what} {path}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No view could be put in: the container has none of the target files.
    #[error("none of the view targets exists under {0}")]
    NoTargets(PathBuf),
    /// A namespace operation needs a single-threaded process.
    #[error(
        "joining a mount namespace needs a single-threaded process (this one has {0} threads)"
    )]
    Threaded(usize),
    /// The helper process that joined the namespace failed.
    #[error("in the mount namespace of pid {pid}: {message}")]
    InNamespace {
        /// The target process.
        pid: u32,
        /// What the helper reported.
        message: String,
    },
}

impl Error {
    pub(crate) fn sys(
        what: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<std::io::Error>,
    ) -> Self {
        Error::Sys {
            what,
            path: path.into(),
            source: source.into(),
        }
    }
}
