//! Docker-style limit values: sizes (`256m`, `1g`, `512k`, plain bytes) and CPU counts (`0.5`),
//! with messages that say what is accepted.

/// Parses a size as docker does: a number with an optional `b`, `k`, `m`, `g`, `t` suffix
/// (binary units, case-insensitive).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let accepted = "a size is a positive whole number with an optional unit: 512k, 256m, 1g";
    let t = s.trim().to_ascii_lowercase();
    if t.starts_with('-') {
        return Err(format!("bad size `{s}`: {accepted}"));
    }
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult = match &t[i..] {
                "b" => 1u64,
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                "t" | "tb" | "tib" => 1 << 40,
                other => {
                    return Err(format!(
                        "bad size `{s}`: unknown unit `{other}`; {accepted}"
                    ))
                }
            };
            (&t[..i], mult)
        }
        None => (t.as_str(), 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad size `{s}`: {accepted}"))?;
    if n == 0 {
        return Err(format!("bad size `{s}`: {accepted}"));
    }
    n.checked_mul(mult)
        .ok_or_else(|| format!("bad size `{s}`: larger than 16 EiB"))
}

/// Parses a CPU count (`0.5`, `2`) into a CFS quota for `period_us`. `host_cpus` is how many
/// CPUs this process may run on: as Docker does, more than that is refused.
pub fn cpus_to_quota(s: &str, period_us: u64, host_cpus: usize) -> Result<u64, String> {
    let range = format!(
        "the range of CPUs is from 0.01 to {host_cpus}.00, as there {} only {host_cpus} CPU{} available",
        if host_cpus == 1 { "is" } else { "are" },
        if host_cpus == 1 { "" } else { "s" }
    );
    let cpus: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("bad CPU count `{s}`: a number such as 0.5 or 2; {range}"))?;
    if !cpus.is_finite() || cpus < 0.01 || cpus > host_cpus as f64 {
        return Err(format!("bad CPU count `{s}`: {range}"));
    }
    Ok(((cpus * period_us as f64).round() as u64).max(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256m"), Ok(268435456));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(524288));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        for bad in [
            "12x",
            "m",
            "-1m",
            "-5m",
            "0",
            "99999999999999999999g",
            "1.5g",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(parse_size("-5m").unwrap_err().contains("positive"));
    }

    #[test]
    fn cpus() {
        assert_eq!(cpus_to_quota("0.5", 100_000, 2), Ok(50_000));
        assert_eq!(cpus_to_quota("2", 100_000, 2), Ok(200_000));
        for bad in ["0", "abc", "NaN", "-1", "1000", "2.5"] {
            let e = cpus_to_quota(bad, 100_000, 2).unwrap_err();
            assert!(e.contains("from 0.01 to 2.00"), "{e}");
        }
        assert!(cpus_to_quota("3", 100_000, 1)
            .unwrap_err()
            .contains("there is only 1 CPU available"));
    }
}
