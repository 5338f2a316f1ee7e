//! v2 cpu: the bandwidth limit `cpu.max` (`$MAX $PERIOD`, `max` for none) and usage from
//! `cpu.stat` (`usage_usec`, `user_usec`, `system_usec`), which exists in every non-root cgroup
//! whether or not the cpu controller is enabled.

use crate::cgroup::walk::tightest_over_ancestors;
use crate::cgroup::{CgroupDir, CpuQuota, CpuUsage, Result};
use crate::kernel::parse::{self, parse_u64, ParseError};
use crate::kernel::read::{parsed, read_key_values, write};

const MAX: &str = "cpu.max";
const STAT: &str = "cpu.stat";

/// The tightest `cpu.max` of the cgroup and its ancestors, `None` if none is set.
pub fn read_quota(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<Option<CpuQuota>> {
    tightest_over_ancestors(
        d,
        MAX,
        buf,
        |_, path, bytes| Ok(parsed(path, parse_cpu_max(bytes))?),
        CpuQuota::is_tighter_than,
    )
}

/// `max 100000` is no limit; `50000 100000` is half a CPU; a lone number uses the default
/// period the kernel would (100 ms).
pub fn parse_cpu_max(text: &[u8]) -> std::result::Result<Option<CpuQuota>, ParseError> {
    let mut w = parse::words(text);
    let quota = w.next().ok_or(ParseError::Empty)?;
    let period = w.next().map(parse_u64).transpose()?.unwrap_or(100_000);
    if quota == b"max" {
        return Ok(None);
    }
    Ok(CpuQuota::new(parse_u64(quota)?, period))
}

/// Usage since the cgroup was created; `cpu.stat` gives no per-CPU split.
pub fn read_usage(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<CpuUsage> {
    let (mut usage, mut user, mut system) = (None, None, None);
    let path = d.file(STAT);
    read_key_values(&path, buf, |k, v| {
        let slot = match k {
            b"usage_usec" => &mut usage,
            b"user_usec" => &mut user,
            b"system_usec" => &mut system,
            _ => return,
        };
        *slot = parse_u64(v).ok();
    })?;
    let usage = parsed(&path, usage.ok_or(ParseError::MissingKey("usage_usec")))?;
    let user = user.unwrap_or(usage);
    // user + system can trail usage_usec slightly (they are sampled from ticks); the rest
    // is counted as user so the total matches usage_usec.
    let system = system.unwrap_or(0).min(usage);
    let user = user.max(usage - system);
    Ok(CpuUsage {
        user_ns: user.saturating_mul(1000),
        system_ns: system.saturating_mul(1000),
        per_cpu: Vec::new(),
    })
}

/// Sets `cpu.max` (`None` quota: `max`).
pub fn write_quota(d: &CgroupDir, quota_us: Option<u64>, period_us: u64) -> Result<()> {
    let quota = quota_us.map_or("max".to_owned(), |q| q.to_string());
    Ok(write(&d.file(MAX), &format!("{quota} {period_us}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max() {
        assert_eq!(parse_cpu_max(b"max 100000\n"), Ok(None));
        assert_eq!(
            parse_cpu_max(b"50000 100000\n"),
            Ok(CpuQuota::new(50000, 100000))
        );
        assert_eq!(parse_cpu_max(b"50000"), Ok(CpuQuota::new(50000, 100000)));
        assert_eq!(parse_cpu_max(b"50000 0"), Ok(None));
        assert!(parse_cpu_max(b"").is_err());
        assert!(parse_cpu_max(b"-1 100000").is_err());
    }
}
