//! A process's cgroup membership, `/proc/<pid>/cgroup`: `hierarchy-id:controller-list:path` per
//! line, `0::path` for the unified hierarchy.

use super::hierarchy::{Controller, Hierarchies, Version};
use std::path::Path;

/// One process's cgroup membership, borrowed from the file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroups {
    entries: Vec<(String, String)>,
    unified: Option<String>,
}

/// The suffix systemd puts a container's init in; the container is its parent.
const INIT_SCOPE: &str = "/init.scope";

impl ProcCgroups {
    /// Parses the file. Malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut unified = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !path.starts_with('/') {
                continue;
            }
            if id == "0" && ctrls.is_empty() {
                unified = Some(path.to_owned());
            } else if !ctrls.is_empty() {
                entries.push((ctrls.to_owned(), path.to_owned()));
            }
        }
        Self { entries, unified }
    }

    /// The cgroup path of the hierarchy that serves `c` on this host.
    pub fn path_for(&self, h: &Hierarchies, c: Controller) -> Option<&Path> {
        match h.version_of(c)? {
            Version::V1 => {
                let want = h.v1_controllers(c)?;
                self.entries
                    .iter()
                    .find(|(ctrls, _)| ctrls.split(',').eq(want.iter().map(String::as_str)))
                    .map(|(_, p)| Path::new(p.as_str()))
            }
            Version::V2 => self.unified.as_deref().map(Path::new),
        }
    }

    /// The path in the v1 hierarchy carrying exactly `controllers` (`["cpu", "cpuacct"]`).
    pub fn path_for_controllers(&self, controllers: &[String]) -> Option<&Path> {
        self.entries
            .iter()
            .find(|(ctrls, _)| ctrls.split(',').eq(controllers.iter().map(String::as_str)))
            .map(|(_, p)| Path::new(p.as_str()))
    }

    /// The path in the unified hierarchy.
    pub fn unified(&self) -> Option<&Path> {
        self.unified.as_deref().map(Path::new)
    }

    /// Drops a trailing `/init.scope` from every path, so a container whose init runs systemd
    /// is judged by the container's cgroup, not the init's own leaf.
    pub fn strip_init_scope(&mut self) {
        let strip = |p: &mut String| {
            if let Some(parent) = p.strip_suffix(INIT_SCOPE) {
                let len = if parent.is_empty() { 1 } else { parent.len() };
                p.truncate(len);
            }
        };
        self.entries.iter_mut().for_each(|(_, p)| strip(p));
        if let Some(p) = self.unified.as_mut() {
            strip(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_strips() {
        let mut c = ProcCgroups::parse(
            "9:name=systemd:/\n4:memory:/docker/abc/init.scope\n2:cpu,cpuacct:/docker/abc\n0::/init.scope\nbad\n3:x:relative\n",
        );
        c.strip_init_scope();
        assert_eq!(c.entries[1].1, "/docker/abc");
        assert_eq!(c.unified.as_deref(), Some("/"));
        assert_eq!(c.entries.len(), 3);
    }
}
