//! Docker-style limit values: sizes (`256m`, `1g`, `512k`, plain bytes) and CPU counts (`0.5`).

/// Parses a size as docker does: a number with an optional `b`, `k`, `m`, `g` suffix (binary
/// units, case-insensitive).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
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
                        "bad size `{s}`: unknown unit `{other}` (use b, k, m, g)"
                    ))
                }
            };
            (&t[..i], mult)
        }
        None => (t.as_str(), 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| {
        format!("bad size `{s}`: expected a number with an optional unit (256m, 1g)")
    })?;
    n.checked_mul(mult)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("bad size `{s}`"))
}

/// Parses a CPU count (`0.5`, `2`) into a CFS quota for `period_us`.
pub fn cpus_to_quota(s: &str, period_us: u64) -> Result<u64, String> {
    let cpus: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("bad CPU count `{s}`: expected a number such as 0.5 or 2"))?;
    if !(cpus.is_finite() && cpus > 0.0 && cpus <= 4096.0) {
        return Err(format!("bad CPU count `{s}`"));
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
        assert!(parse_size("12x").is_err());
        assert!(parse_size("m").is_err());
        assert!(parse_size("-1m").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999999999g").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(cpus_to_quota("0.5", 100_000), Ok(50_000));
        assert_eq!(cpus_to_quota("2", 100_000), Ok(200_000));
        assert!(cpus_to_quota("0", 100_000).is_err());
        assert!(cpus_to_quota("abc", 100_000).is_err());
        assert!(cpus_to_quota("NaN", 100_000).is_err());
    }
}
