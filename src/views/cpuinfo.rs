//! Renders `/proc/cpuinfo`: the host's blocks for the visible CPUs only, with their real
//! `processor` ids, and `siblings` / `cpu cores` set to the visible count.
//!
//! Lines outside any `processor` block (headers and trailers of some architectures) pass
//! through. If no block matches a visible CPU (an unfamiliar format), the host file is served.

use super::fmt::push_u64;
use crate::cgroup::CpuSet;
use crate::host::lines;
use crate::kernel::parse::{parse_u64, trim};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    Keep,
    Drop,
}

/// Renders the container's cpuinfo into `out`.
pub fn render(host: &[u8], visible: &CpuSet, out: &mut Vec<u8>) {
    let start = out.len();
    let count = visible.len() as u64;
    let mut state = State::Outside;
    let mut kept = 0;
    for line in lines(host) {
        let key = key_of(line);
        if key == Some(b"processor") {
            let id = value_of(line).and_then(|v| parse_u64(v).ok());
            state = match id {
                Some(id) if usize::try_from(id).is_ok_and(|id| visible.contains(id)) => {
                    kept += 1;
                    State::Keep
                }
                _ => State::Drop,
            };
        }
        if state == State::Drop {
            if line.is_empty() {
                state = State::Outside;
            }
            continue;
        }
        match key {
            Some(b"siblings") | Some(b"cpu cores") if state == State::Keep => {
                let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
                out.extend_from_slice(&line[..colon]);
                out.extend_from_slice(b": ");
                push_u64(out, count);
            }
            _ => out.extend_from_slice(line),
        }
        out.push(b'\n');
        if line.is_empty() {
            state = State::Outside;
        }
    }
    if kept == 0 {
        out.truncate(start);
        out.extend_from_slice(host);
    }
}

fn key_of(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    Some(trim(&line[..colon]))
}

fn value_of(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    Some(trim(&line[colon + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "processor\t: 0\nmodel name\t: AMD EPYC\nsiblings\t: 2\ncpu cores\t: 2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\nsiblings\t: 2\ncpu cores\t: 2\n\n";

    fn r(host: &str, vis: &str) -> String {
        let mut out = Vec::new();
        render(
            host.as_bytes(),
            &CpuSet::parse(vis.as_bytes()).unwrap(),
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_real_ids() {
        assert_eq!(
            r(HOST, "1"),
            "processor\t: 1\nmodel name\t: AMD EPYC\nsiblings\t: 1\ncpu cores\t: 1\n\n"
        );
        assert_eq!(r(HOST, "0-1").matches("siblings\t: 2").count(), 2);
    }

    #[test]
    fn unknown_format_is_verbatim() {
        assert_eq!(r("garbage\n", "0"), "garbage\n");
        assert_eq!(r(HOST, "5"), HOST);
    }
}
