//! The pid an OCI state names, as the view server numbers it.
//!
//! The OCI runtime spec gives hooks run in the container's namespaces (`createContainer`,
//! `startContainer`) the container's pid "as seen by the container": runc runs those hooks from
//! its init inside the new pid namespace and passes 1; crun passes the runtime's pid, or 0
//! (1.8), from inside the container. The view server names containers by pids of its own
//! namespace (`by-pid/<pid>`), which is the namespace of the `/proc` the hook still sees before
//! `pivot_root`. So the hook finds the process among its own ancestors (the init that started
//! it, for runc) by the pid its innermost namespace gives it (`NSpid`, Linux 4.1+).

use std::path::Path;

/// How many ancestors are looked at: a hook's init is its parent or grandparent.
const MAX_DEPTH: usize = 32;

/// The container's init, in the namespace of the `/proc` at `proc`, from the state's `pid`
/// (see [`to_proc_ns`]). crun 1.8 passes 0, from inside the container: a hook whose pid
/// namespace is deeper than the `/proc` it sees is in a namespace made after that `/proc` was
/// mounted, the container's, whose pid 1 is the init; taken only if it shares the hook's
/// cgroups (the runtime's init joined them before running the hook).
pub fn container_init(proc: &Path, state_pid: Option<u32>) -> Option<u32> {
    if let Some(pid) = state_pid.filter(|&p| p > 0) {
        return to_proc_ns(proc, pid);
    }
    if nspid(proc, "self")?.len() < 2 {
        return None;
    }
    let init = to_proc_ns(proc, 1)?;
    let cgroups = |who: &str| std::fs::read(proc.join(who).join("cgroup")).ok();
    let own = cgroups("self")?;
    (cgroups(&init.to_string()) == Some(own)).then_some(init)
}

/// The pid, in the namespace of the `/proc` at `proc`, of the process the state names as
/// `pid`: the same number when the hook shares that namespace or that process is in the hook's
/// own, else the hook's ancestor that is `pid` in the hook's namespace; `None` when neither
/// (then the caller falls back to views that resolve each reader).
pub fn to_proc_ns(proc: &Path, pid: u32) -> Option<u32> {
    let own = nspid(proc, "self")?;
    if own.len() == 1 {
        // The hook shares the /proc's namespace: the state's pid is already in it.
        return Some(pid);
    }
    // crun runs the hook inside the container too, but names the init by the runtime's pid:
    // a process of the hook's own pid namespace under that number is the one.
    let ns = |who: &str| std::fs::read_link(proc.join(who).join("ns/pid")).ok();
    if ns("self").is_some() && ns(&pid.to_string()) == ns("self") {
        return Some(pid);
    }
    let mut current = own;
    for _ in 0..MAX_DEPTH {
        if current.last() == Some(&pid) {
            return current.first().copied();
        }
        let ppid = field(proc, &current[0].to_string(), "PPid:")?
            .first()
            .copied()?;
        if ppid == 0 {
            return None;
        }
        let parent = nspid(proc, &ppid.to_string())?;
        // An ancestor outside the hook's namespace cannot be the process it names.
        if parent.len() < current.len() {
            return None;
        }
        current = parent;
    }
    None
}

/// `NSpid:` of `/proc/<who>/status`: the pid in each namespace, outermost first.
fn nspid(proc: &Path, who: &str) -> Option<Vec<u32>> {
    field(proc, who, "NSpid:").filter(|v| !v.is_empty())
}

fn field(proc: &Path, who: &str, key: &str) -> Option<Vec<u32>> {
    let text = std::fs::read_to_string(proc.join(who).join("status")).ok()?;
    parse_field(&text, key)
}

/// The numbers of the line that starts with `key` (exact), or `None` if absent or malformed.
fn parse_field(status: &str, key: &str) -> Option<Vec<u32>> {
    let rest = status.lines().find_map(|l| l.strip_prefix(key))?;
    rest.split_whitespace().map(|n| n.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /proc: pid -> (NSpid, PPid), `self` being `me`; its pid namespace is named by
    /// its NSpid's depth.
    fn fake(me: u32, procs: &[(u32, &str, u32)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (pid, ns, ppid) in procs {
            let d = dir.path().join(pid.to_string());
            std::fs::create_dir_all(d.join("ns")).unwrap();
            let depth = ns.split('\t').count();
            std::os::unix::fs::symlink(format!("pid:[{depth}]"), d.join("ns/pid")).unwrap();
            // The container's processes (nested) in one cgroup, the others in another.
            std::fs::write(d.join("cgroup"), format!("0::/depth{depth}\n")).unwrap();
            std::fs::write(
                d.join("status"),
                format!("Name:\tx\nNSpid:\t{ns}\nPPid:\t{ppid}\nNSpgid:\t1\n"),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink(me.to_string(), dir.path().join("self")).unwrap();
        dir
    }

    #[test]
    fn runc_passes_one_from_inside_the_container() {
        // runtime 900 -> runc init 4711 (1 inside) -> hook 4720 (5 inside).
        let p = fake(
            4720,
            &[
                (4720, "4720\t5", 4711),
                (4711, "4711\t1", 900),
                (900, "900", 1),
            ],
        );
        assert_eq!(to_proc_ns(p.path(), 1), Some(4711));
        assert_eq!(to_proc_ns(p.path(), 5), Some(4720));
        // A pid inside the container that is not an ancestor: unknown.
        assert_eq!(to_proc_ns(p.path(), 3), None);
    }

    #[test]
    fn crun_passes_the_hosts_pid() {
        // The hook in the runtime's namespace.
        let p = fake(4720, &[(4720, "4720", 900), (900, "900", 1)]);
        assert_eq!(to_proc_ns(p.path(), 4711), Some(4711));
        // The hook inside the container, the init named by the runtime's pid.
        let p = fake(
            4720,
            &[
                (4720, "4720\t2", 4711),
                (4711, "4711\t1", 900),
                (900, "900", 1),
            ],
        );
        assert_eq!(to_proc_ns(p.path(), 4711), Some(4711));
        // The runtime's pid of a process outside the container is not the container's.
        assert_eq!(to_proc_ns(p.path(), 900), None);
    }

    #[test]
    fn crun_passes_zero_from_inside_the_container() {
        let p = fake(
            4720,
            &[
                (4720, "4720\t2", 4711),
                (4711, "4711\t1", 900),
                (900, "900", 1),
            ],
        );
        assert_eq!(container_init(p.path(), Some(0)), Some(4711));
        assert_eq!(container_init(p.path(), None), Some(4711));
        // From the runtime's namespace, 0 names nothing.
        let p = fake(4720, &[(4720, "4720", 900), (900, "900", 1)]);
        assert_eq!(container_init(p.path(), Some(0)), None);
        // A pid 1 in other cgroups than the hook's is not taken for the container's init.
        let p = fake(4720, &[(4720, "4720\t2", 4711), (4711, "4711\t1", 900)]);
        std::fs::write(p.path().join("4711/cgroup"), "0::/elsewhere\n").unwrap();
        assert_eq!(container_init(p.path(), Some(0)), None);
    }

    #[test]
    fn missing_or_malformed_status_is_none() {
        let p = fake(4720, &[(4720, "4720\t5", 4711)]);
        assert_eq!(to_proc_ns(p.path(), 1), None);
        assert_eq!(parse_field("NSpid:\t12\tx\n", "NSpid:"), None);
        assert_eq!(parse_field("NSpidx:\t12\n", "NSpid:"), None);
        assert_eq!(parse_field("NSpid:\t12\t3\n", "NSpid:"), Some(vec![12, 3]));
    }
}
