//! `/proc/uptime`: `uptime idle`, seconds with two decimals.

use crate::cgroup::parse::{self, parse_u64, ParseError};

/// Host uptime and idle, in hundredths of a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uptime {
    /// Since boot.
    pub uptime_cs: u64,
    /// Idle time summed over CPUs.
    pub idle_cs: u64,
}

/// Parses `123.45 678.90`.
pub fn parse(text: &[u8]) -> Result<Uptime, ParseError> {
    let mut w = parse::words(text);
    let uptime_cs = centis(w.next().ok_or(ParseError::Empty)?)?;
    let idle_cs = centis(w.next().ok_or(ParseError::Empty)?)?;
    Ok(Uptime { uptime_cs, idle_cs })
}

/// `12.34` -> 1234; one or two decimals accepted, more are truncated.
fn centis(s: &[u8]) -> Result<u64, ParseError> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &b""[..]),
    };
    let int = parse_u64(int)?;
    let frac_cs = match frac.len() {
        0 => 0,
        1 => parse_u64(frac)? * 10,
        _ => parse_u64(&frac[..2])?,
    };
    int.checked_mul(100)
        .and_then(|c| c.checked_add(frac_cs))
        .ok_or(ParseError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime() {
        assert_eq!(
            parse(b"280.84 436.05\n"),
            Ok(Uptime {
                uptime_cs: 28084,
                idle_cs: 43605
            })
        );
        assert_eq!(parse(b"5 1.5").unwrap().idle_cs, 150);
        assert!(parse(b"").is_err());
        assert!(parse(b"1.x 2").is_err());
        assert!(parse(b"99999999999999999999.00 1").is_err());
    }
}
