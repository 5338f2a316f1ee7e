//! v1 cpuacct: per-CPU user and system nanoseconds from `cpuacct.usage_all`, or from
//! `cpuacct.usage_percpu_user` and `cpuacct.usage_percpu_sys` on kernels without it.

use crate::cgroup::{CgroupDir, CpuUsage, PerCpuUsage, Result};
use crate::kernel::parse::{self, parse_u64, ParseError};
use crate::kernel::read::{parsed, read_into};

const USAGE_ALL: &str = "cpuacct.usage_all";
const PERCPU_USER: &str = "cpuacct.usage_percpu_user";
const PERCPU_SYS: &str = "cpuacct.usage_percpu_sys";

/// CPU usage since the cgroup was created.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<CpuUsage> {
    let path = d.file(USAGE_ALL);
    match read_into(&path, buf) {
        Ok(()) => Ok(parsed(&path, parse_usage_all(buf))?),
        Err(e) if e.is_missing() => read_percpu(d, buf),
        Err(e) => Err(e.into()),
    }
}

/// `cpu user system` header, then `N user_ns system_ns` per CPU.
pub fn parse_usage_all(text: &[u8]) -> std::result::Result<CpuUsage, ParseError> {
    let mut lines = text.split(|&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    if parse::words(header).ne([&b"cpu"[..], b"user", b"system"]) {
        return Err(ParseError::MissingKey("cpu user system"));
    }
    let mut usage = CpuUsage::default();
    for line in lines {
        let mut w = parse::words(line);
        let Some(cpu) = w.next() else { continue };
        let (Some(user), Some(system)) = (w.next(), w.next()) else {
            return Err(ParseError::NotANumber);
        };
        let cpu = usize::try_from(parse_u64(cpu)?).map_err(|_| ParseError::Overflow)?;
        push(&mut usage, cpu, parse_u64(user)?, parse_u64(system)?);
    }
    Ok(usage)
}

fn read_percpu(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<CpuUsage> {
    let user_path = d.file(PERCPU_USER);
    read_into(&user_path, buf)?;
    let user: Vec<u64> = parsed(&user_path, parse::words(buf).map(parse_u64).collect())?;
    let sys_path = d.file(PERCPU_SYS);
    read_into(&sys_path, buf)?;
    let sys: Vec<u64> = parsed(&sys_path, parse::words(buf).map(parse_u64).collect())?;
    if user.len() != sys.len() {
        return Err(parsed(
            &sys_path,
            Err(ParseError::MissingKey("one value per CPU")),
        )?);
    }
    let mut usage = CpuUsage::default();
    for (cpu, (u, s)) in user.into_iter().zip(sys).enumerate() {
        push(&mut usage, cpu, u, s);
    }
    Ok(usage)
}

fn push(usage: &mut CpuUsage, cpu: usize, user_ns: u64, system_ns: u64) {
    usage.user_ns = usage.user_ns.saturating_add(user_ns);
    usage.system_ns = usage.system_ns.saturating_add(system_ns);
    usage.per_cpu.push(PerCpuUsage {
        cpu,
        user_ns,
        system_ns,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_all() {
        let u = parse_usage_all(b"cpu user system\n0 100 20\n1 300 40\n").unwrap();
        assert_eq!((u.user_ns, u.system_ns), (400, 60));
        assert_eq!(u.per_cpu[1].cpu, 1);
        assert!(parse_usage_all(b"").is_err());
        assert!(parse_usage_all(b"cpu user system\n0 1\n").is_err());
        assert!(parse_usage_all(b"cpu user system\n0 1 x\n").is_err());
    }
}
