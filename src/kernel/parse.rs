//! Parsers for the value shapes cgroup and /proc files use: one number, `max`, `key value`
//! lines, `key=value` fields and CPU lists.
//!
//! Everything here works on bytes, allocates nothing, and answers bad input with a
//! [`ParseError`] naming what was wrong; callers attach the path.

use std::fmt;

/// What was wrong with a value; the caller adds the file it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The file or field was empty.
    Empty,
    /// Not a decimal number (or `max` where that is allowed).
    NotANumber,
    /// A number larger than u64 can hold.
    Overflow,
    /// A CPU list that is not in the kernel's `0-3,8` format.
    BadCpuList,
    /// A required key was not present.
    MissingKey(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty value"),
            ParseError::NotANumber => f.write_str("not a number"),
            ParseError::Overflow => f.write_str("number beyond u64"),
            ParseError::BadCpuList => f.write_str("malformed CPU list"),
            ParseError::MissingKey(k) => write!(f, "no `{k}` key"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Strips ASCII whitespace (including the trailing newline) from both ends.
pub fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// Parses an unsigned decimal number, surrounding whitespace allowed.
pub fn parse_u64(s: &[u8]) -> Result<u64, ParseError> {
    let s = trim(s);
    if s.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(ParseError::NotANumber);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::Overflow)?;
    }
    Ok(n)
}

/// Parses a limit: a number, or `max` (v2) for "no limit", which is `None`.
pub fn parse_limit(s: &[u8]) -> Result<Option<u64>, ParseError> {
    let t = trim(s);
    if t == b"max" {
        return Ok(None);
    }
    parse_u64(t).map(Some)
}

/// The smallest value a v1 memory limit shows when it is unlimited: the kernel prints its page
/// counter's maximum (`PAGE_COUNTER_MAX`) times the page size, `i64::MAX` rounded down to a page
/// (9223372036854771712 with 4 KiB pages); 64 KiB pages round down further.
pub const V1_MEMORY_UNLIMITED: u64 = (i64::MAX as u64) & !0xffff;

/// Parses a v1 memory limit, where the page counter's maximum means "no limit" (`None`).
pub fn parse_v1_memory_limit(s: &[u8]) -> Result<Option<u64>, ParseError> {
    parse_u64(trim(s)).map(|n| (n < V1_MEMORY_UNLIMITED).then_some(n))
}

/// Parses a v1 signed setting where `-1` means "no limit" (`cpu.cfs_quota_us`).
pub fn parse_v1_quota(s: &[u8]) -> Result<Option<u64>, ParseError> {
    let t = trim(s);
    if t == b"-1" {
        return Ok(None);
    }
    parse_u64(t).map(Some)
}

/// Iterates `key value` lines (`memory.stat`, `cpu.stat`), yielding the raw value bytes.
/// Lines without a separating space are skipped: the kernel never writes them.
pub fn key_values(text: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = trim(line);
        let sp = line.iter().position(|&b| b == b' ')?;
        Some((&line[..sp], trim(&line[sp + 1..])))
    })
}

/// Iterates whitespace-separated `key=value` fields of one line (`io.stat`).
pub fn eq_fields(line: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    line.split(|b| b.is_ascii_whitespace()).filter_map(|field| {
        let eq = field.iter().position(|&b| b == b'=')?;
        Some((&field[..eq], &field[eq + 1..]))
    })
}

/// Splits on ASCII whitespace, skipping empty pieces.
pub fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
}

/// Parses `MAJ:MIN`.
pub fn parse_dev(s: &[u8]) -> Result<(u32, u32), ParseError> {
    let colon = s
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::NotANumber)?;
    let major = parse_u64(&s[..colon])?;
    let minor = parse_u64(&s[colon + 1..])?;
    let to32 = |n: u64| u32::try_from(n).map_err(|_| ParseError::Overflow);
    Ok((to32(major)?, to32(minor)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"268435456\n"), Ok(268435456));
        assert_eq!(parse_u64(b""), Err(ParseError::Empty));
        assert_eq!(parse_u64(b"\n"), Err(ParseError::Empty));
        assert_eq!(parse_u64(b"-1"), Err(ParseError::NotANumber));
        assert_eq!(parse_u64(b"12x"), Err(ParseError::NotANumber));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(ParseError::Overflow)
        );
        assert_eq!(
            parse_u64(b"99999999999999999999999"),
            Err(ParseError::Overflow)
        );
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(b"max\n"), Ok(None));
        assert_eq!(parse_limit(b"1024\n"), Ok(Some(1024)));
        assert_eq!(parse_limit(b"garbage"), Err(ParseError::NotANumber));
        assert_eq!(parse_v1_quota(b"-1\n"), Ok(None));
        assert_eq!(parse_v1_quota(b"50000\n"), Ok(Some(50000)));
        assert_eq!(parse_v1_quota(b"-5"), Err(ParseError::NotANumber));
        // What an unlimited v1 memory cgroup shows with 4 KiB and with 64 KiB pages.
        assert_eq!(parse_v1_memory_limit(b"9223372036854771712\n"), Ok(None));
        assert_eq!(parse_v1_memory_limit(b"9223372036854710272\n"), Ok(None));
        assert_eq!(parse_v1_memory_limit(b"268435456\n"), Ok(Some(268435456)));
    }

    #[test]
    fn kv_and_fields() {
        let kv: Vec<_> = key_values(b"cache 10\nrss 20\n\nbogus\n").collect();
        assert_eq!(
            kv,
            vec![(&b"cache"[..], &b"10"[..]), (&b"rss"[..], &b"20"[..])]
        );
        let f: Vec<_> = eq_fields(b"8:0 rbytes=1 wbytes=2").collect();
        assert_eq!(
            f,
            vec![(&b"rbytes"[..], &b"1"[..]), (&b"wbytes"[..], &b"2"[..])]
        );
        assert_eq!(parse_dev(b"259:3"), Ok((259, 3)));
        assert!(parse_dev(b"8").is_err());
        assert!(parse_dev(b"8:99999999999").is_err());
    }
}
