//! The seccomp piece that lets vproc answer `sysinfo(2)` in containers of runc, crun and the
//! engines that pass a profile through to them: the `sysinfo` call sent to a listener
//! (`SCMP_ACT_NOTIFY`) and `listenerPath` naming the socket of `vproc sysinfo-agent`.
//!
//! It is merged into a profile rather than written instead of one: Docker's and podman's
//! default profiles (and an OCI config's `linux.seccomp`) share the keys touched here
//! (`defaultAction`, `syscalls[].names`/`action`, `listenerPath`), and everything else they
//! allow or deny stays as it was.

use serde_json::{json, Value};

/// The default socket of `vproc sysinfo-agent`.
pub const DEFAULT_LISTENER: &str = "/run/vproc/sysinfo.sock";

/// `profile` (or an allow-everything one, for `None`) with `sysinfo` sent to the agent at
/// `listener`. `Err` when the profile is not a JSON object with a `syscalls` list where it has
/// one.
pub fn merge(profile: Option<&Value>, listener: &str) -> Result<Value, &'static str> {
    let mut p = match profile {
        Some(v) => v.clone(),
        None => json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}),
    };
    let obj = p
        .as_object_mut()
        .ok_or("the profile is not a JSON object")?;
    let syscalls = obj
        .entry("syscalls")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or("`syscalls` is not a list")?;
    // `sysinfo` out of every other rule (an allow rule would otherwise win or conflict)...
    for rule in syscalls.iter_mut() {
        if let Some(names) = rule.get_mut("names").and_then(Value::as_array_mut) {
            names.retain(|n| n != "sysinfo");
        }
    }
    syscalls.retain(|r| {
        r.get("names")
            .and_then(Value::as_array)
            .is_none_or(|n| !n.is_empty())
    });
    // ...and into a rule of its own.
    syscalls.push(json!({"names": ["sysinfo"], "action": "SCMP_ACT_NOTIFY"}));
    obj.insert("listenerPath".into(), json!(listener));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_into_a_default_profile() {
        let docker = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
            "syscalls": [
                {"names": ["read", "sysinfo", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["sysinfo"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
        let m = merge(Some(&docker), "/run/vproc/sysinfo.sock").unwrap();
        assert_eq!(m["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(m["archMap"], docker["archMap"]);
        assert_eq!(m["listenerPath"], "/run/vproc/sysinfo.sock");
        let rules = m["syscalls"].as_array().unwrap();
        assert_eq!(rules[0]["names"], json!(["read", "write"]));
        assert_eq!(rules[1]["names"], json!(["ptrace"]));
        assert_eq!(
            rules[2],
            json!({"names": ["sysinfo"], "action": "SCMP_ACT_NOTIFY"})
        );
        // Merging twice changes nothing more.
        assert_eq!(merge(Some(&m), "/run/vproc/sysinfo.sock").unwrap(), m);
        let bare = merge(None, "/x").unwrap();
        assert_eq!(bare["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(merge(Some(&json!([1])), "/x").is_err());
    }
}
