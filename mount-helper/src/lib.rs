//! Puts per-container views (vproc's, or any lxcfs-style tree) into containers.
//!
//! One mechanism serves every way in: [`open_views`] takes a detached copy of each view mount
//! (`open_tree(OPEN_TREE_CLONE)`) while in the source's mount namespace, and [`attach_views`]
//! moves those copies onto the targets (`move_mount`) under a root, possibly after joining
//! another mount namespace in between. A new rootfs attaches under the rootfs before
//! `pivot_root`; a running container joins its mount namespace first (`setns`), which is why the
//! copies are taken before. Nothing here imports the daemon: it works on any mount.
//!
//! Never creates a file or directory, at a source or a target: a missing target is skipped, and
//! a missing or dead source is an error (the failure that leaves Docker and Kubernetes users of
//! lxcfs with directories where files should be).

#![deny(unsafe_code)]
#![deny(
    clippy::undocumented_unsafe_blocks,
    clippy::unwrap_used,
    clippy::expect_used
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod devices;
mod error;
pub mod kube;
mod ns;
pub mod oci_hook;
pub mod print;
pub mod seccomp;
pub mod state_pid;
mod sys;
mod views;

pub use error::Error;
pub use ns::{
    check_target, is_fuse_mount, remount_all, status_in_pid, unmount_in_pid, with_mount_ns_of,
    Refusal, RemountOptions, Repaired, ViewStatus,
};
pub use views::{
    attach_views, container_dir, engine_bindable, is_dir_view, open_views, open_views_of,
    source_rel, OpenView, BY_PID, CPU_DIR, CPU_DIR_SOURCE, DEFAULT_SOURCE, VIEWS,
};
