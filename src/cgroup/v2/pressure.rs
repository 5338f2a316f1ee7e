//! v2 pressure stall information: `cpu.pressure`, `memory.pressure` and `io.pressure` of the
//! cgroup itself (the kernel accounts each cgroup's own stalls; no ancestor is consulted).
//! Their format is the host's `/proc/pressure/*`:
//! `some avg10=0.12 avg60=0.05 avg300=0.01 total=123456`, then a `full` line.

use crate::cgroup::{CgroupDir, Psi, PsiLine, Result};
use crate::kernel::parse::{self, ParseError};
use crate::kernel::read::{parsed, read_into};

/// The CPU pressure file.
pub const CPU: &str = "cpu.pressure";
/// The memory pressure file.
pub const MEMORY: &str = "memory.pressure";
/// The I/O pressure file.
pub const IO: &str = "io.pressure";

/// Reads one of the pressure files (`file`) of `d`.
pub fn read(d: &CgroupDir, file: &str, buf: &mut Vec<u8>) -> Result<Psi> {
    let path = d.file(file);
    read_into(&path, buf)?;
    Ok(parsed(&path, parse_psi(buf))?)
}

/// Parses a pressure file: a `some` line (required) and a `full` line (optional), each with
/// exactly the keys `avg10`, `avg60`, `avg300` and `total`.
pub fn parse_psi(text: &[u8]) -> std::result::Result<Psi, ParseError> {
    let mut some = None;
    let mut full = None;
    for line in text.split(|&b| b == b'\n') {
        let mut words = parse::words(line);
        match words.next() {
            Some(b"some") => some = Some(parse_line(line)?),
            Some(b"full") => full = Some(parse_line(line)?),
            _ => {}
        }
    }
    Ok(Psi {
        some: some.ok_or(ParseError::MissingKey("some"))?,
        full,
    })
}

fn parse_line(line: &[u8]) -> std::result::Result<PsiLine, ParseError> {
    let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, None);
    for (k, v) in parse::eq_fields(line) {
        match k {
            b"avg10" => avg10 = Some(parse_hundredths(v)?),
            b"avg60" => avg60 = Some(parse_hundredths(v)?),
            b"avg300" => avg300 = Some(parse_hundredths(v)?),
            b"total" => total = Some(parse::parse_u64(v)?),
            _ => {}
        }
    }
    Ok(PsiLine {
        avg10: avg10.ok_or(ParseError::MissingKey("avg10"))?,
        avg60: avg60.ok_or(ParseError::MissingKey("avg60"))?,
        avg300: avg300.ok_or(ParseError::MissingKey("avg300"))?,
        total: total.ok_or(ParseError::MissingKey("total"))?,
    })
}

/// `12.34` as 1234: the kernel always writes two decimals, and at most 100.00.
fn parse_hundredths(v: &[u8]) -> std::result::Result<u32, ParseError> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b"00"[..]),
    };
    if frac.len() != 2 {
        return Err(ParseError::NotANumber);
    }
    let whole = u32::try_from(parse::parse_u64(int)?).map_err(|_| ParseError::Overflow)?;
    let hundredths = u32::try_from(parse::parse_u64(frac)?).map_err(|_| ParseError::Overflow)?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(hundredths))
        .ok_or(ParseError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_lines() {
        let p = parse_psi(
            b"some avg10=1.25 avg60=0.05 avg300=100.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
        )
        .unwrap();
        assert_eq!(
            p.some,
            PsiLine {
                avg10: 125,
                avg60: 5,
                avg300: 10000,
                total: 123456
            }
        );
        assert_eq!(p.full.unwrap().total, 7);
    }

    #[test]
    fn full_is_optional_some_is_not() {
        let p = parse_psi(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert_eq!(p.full, None);
        assert!(parse_psi(b"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").is_err());
        assert!(parse_psi(b"").is_err());
    }

    #[test]
    fn malformed_values_are_errors() {
        for bad in [
            &b"some avg10=1.2 avg60=0.00 avg300=0.00 total=0\n"[..],
            b"some avg10=x avg60=0.00 avg300=0.00 total=0\n",
            b"some avg10=0.00 avg60=0.00 avg300=0.00\n",
            b"some avg10=0.00 avg60=0.00 avg300=0.00 total=-1\n",
        ] {
            assert!(parse_psi(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
