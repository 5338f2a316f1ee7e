//! `/proc/meminfo` lines: `Key:   value kB` or `Key:   value`.

use crate::kernel::parse::{self, parse_u64};

/// One meminfo line split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The key, without the colon.
    pub key: &'a [u8],
    /// The number, if the line has a parsable one.
    pub value: Option<u64>,
    /// Whether the value is in kB (`kB` suffix).
    pub kb: bool,
}

/// Splits a line; `None` when there is no colon.
pub fn split(line: &[u8]) -> Option<Line<'_>> {
    let colon = line.iter().position(|&b| b == b':')?;
    let mut rest = parse::words(&line[colon + 1..]);
    let value = rest.next().and_then(|v| parse_u64(v).ok());
    let kb = rest.next() == Some(b"kB");
    Some(Line {
        key: &line[..colon],
        value,
        kb,
    })
}

/// The value of `key` in kB (or count, for unitless lines).
pub fn value(text: &[u8], key: &[u8]) -> Option<u64> {
    super::lines(text)
        .filter_map(split)
        .find(|l| l.key == key)
        .and_then(|l| l.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let t = b"MemTotal:       24684084 kB\nHugePages_Total:       0\nbad line\n";
        assert_eq!(value(t, b"MemTotal"), Some(24684084));
        assert_eq!(value(t, b"HugePages_Total"), Some(0));
        assert_eq!(value(t, b"Nope"), None);
        let l = split(b"SwapTotal:             0 kB").unwrap();
        assert!(l.kb);
        assert_eq!(split(b"Garbage:  xyz kB").unwrap().value, None);
    }
}
