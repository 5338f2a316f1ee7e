//! A set of CPU ids, parsed from and printed in the kernel's list format (`0-3,8`).
//!
//! Used for cpusets, the host's online CPUs and the CPUs a container is shown; ids are the
//! host's real ids throughout, never renumbered.

use super::parse::{parse_u64, trim, ParseError};

/// Most CPUs a set accepts; ids beyond it are rejected as malformed rather than allocating
/// without bound on garbage input. The kernel's own NR_CPUS maximum is 8192.
pub const MAX_CPUS: usize = 8192;

/// A set of CPU ids.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CpuSet {
    words: Vec<u64>,
}

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuSet(\"{}\")", self.to_list())
    }
}

impl CpuSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `0-3,8`. Whitespace around the list is ignored; an empty list is the empty set.
    pub fn parse(s: &[u8]) -> Result<Self, ParseError> {
        let mut set = CpuSet::new();
        let s = trim(s);
        if s.is_empty() {
            return Ok(set);
        }
        for part in s.split(|&b| b == b',') {
            let (lo, hi) = match part.iter().position(|&b| b == b'-') {
                Some(dash) => (parse_id(&part[..dash])?, parse_id(&part[dash + 1..])?),
                None => {
                    let id = parse_id(part)?;
                    (id, id)
                }
            };
            if lo > hi {
                return Err(ParseError::BadCpuList);
            }
            for id in lo..=hi {
                set.insert(id);
            }
        }
        Ok(set)
    }

    /// Adds `id`; ids at or beyond [`MAX_CPUS`] are ignored.
    pub fn insert(&mut self, id: usize) {
        if id >= MAX_CPUS {
            return;
        }
        let w = id / 64;
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (id % 64);
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: usize) -> bool {
        self.words
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Number of CPUs in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            (0..64)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| i * 64 + b)
        })
    }

    /// The ids in both sets.
    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        let words = self
            .words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| a & b)
            .collect();
        CpuSet { words }
    }

    /// The first `n` ids in ascending order.
    pub fn first(&self, n: usize) -> CpuSet {
        let mut out = CpuSet::new();
        for id in self.iter().take(n) {
            out.insert(id);
        }
        out
    }

    /// Writes the kernel list format (`0-3,8`), without a newline.
    pub fn write_list(&self, out: &mut Vec<u8>) {
        let mut ids = self.iter().peekable();
        let mut first = true;
        while let Some(lo) = ids.next() {
            let mut hi = lo;
            while ids.peek() == Some(&(hi + 1)) {
                hi = ids.next().unwrap_or(hi);
            }
            if !first {
                out.push(b',');
            }
            first = false;
            push_usize(out, lo);
            if hi != lo {
                out.push(b'-');
                push_usize(out, hi);
            }
        }
    }

    /// The list format as a string (for logs and tests).
    pub fn to_list(&self) -> String {
        let mut v = Vec::new();
        self.write_list(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }
}

fn parse_id(s: &[u8]) -> Result<usize, ParseError> {
    let n = parse_u64(s).map_err(|_| ParseError::BadCpuList)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < MAX_CPUS)
        .ok_or(ParseError::BadCpuList)
}

fn push_usize(out: &mut Vec<u8>, n: usize) {
    super::itoa::push_u64(out, n as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in ["0", "0-3,8", "1,3,5-7", "0-63,64-65", ""] {
            let set = CpuSet::parse(s.as_bytes()).unwrap();
            let canon = set.to_list();
            assert_eq!(CpuSet::parse(canon.as_bytes()).unwrap(), set);
        }
        assert_eq!(CpuSet::parse(b"0-63,64-65\n").unwrap().to_list(), "0-65");
        assert_eq!(CpuSet::parse(b"3,1,2").unwrap().to_list(), "1-3");
    }

    #[test]
    fn bad_lists() {
        for s in ["3-1", "a", "1,,2", "-", "0-99999", "1-"] {
            assert_eq!(
                CpuSet::parse(s.as_bytes()),
                Err(ParseError::BadCpuList),
                "{s}"
            );
        }
    }

    #[test]
    fn set_ops() {
        let a = CpuSet::parse(b"0-7").unwrap();
        let b = CpuSet::parse(b"2,4,100").unwrap();
        assert_eq!(a.intersection(&b).to_list(), "2,4");
        assert_eq!(a.first(3).to_list(), "0-2");
        assert_eq!(a.len(), 8);
        assert!(a.contains(7) && !a.contains(8));
    }
}
