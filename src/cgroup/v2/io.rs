//! v2 io: `io.stat`, one line per device, `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=..
//! dios=..`, and the proportional weight.

use crate::cgroup::{CgroupDir, IoDevice, IoSnapshot, Result};
use crate::kernel::parse::{self, parse_dev, parse_u64};
use crate::kernel::read::{read_into, write};

/// Per-device bytes and operations.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<IoSnapshot> {
    read_into(&d.file("io.stat"), buf)?;
    Ok(parse_io_stat(buf))
}

/// Parses `io.stat`; malformed lines and unknown keys are skipped.
pub fn parse_io_stat(text: &[u8]) -> IoSnapshot {
    let mut snap = IoSnapshot::default();
    for line in text.split(|&b| b == b'\n') {
        let Some(dev) = parse::words(line).next() else {
            continue;
        };
        let Ok((major, minor)) = parse_dev(dev) else {
            continue;
        };
        let mut d = IoDevice {
            major,
            minor,
            ..IoDevice::default()
        };
        for (k, v) in parse::eq_fields(line) {
            let Ok(v) = parse_u64(v) else { continue };
            let slot = match k {
                b"rbytes" => &mut d.read_bytes,
                b"wbytes" => &mut d.write_bytes,
                b"rios" => &mut d.read_ios,
                b"wios" => &mut d.write_ios,
                b"dbytes" => &mut d.discard_bytes,
                b"dios" => &mut d.discard_ios,
                _ => continue,
            };
            *slot = v;
        }
        snap.devices.push(d);
    }
    snap
}

/// Sets the proportional weight (1-10000; docker's 10-1000 fit): `io.weight` or
/// `io.bfq.weight`, whichever this kernel has. `Ok(false)` when it has neither.
pub fn write_weight(d: &CgroupDir, weight: u16) -> Result<bool> {
    for f in ["io.weight", "io.bfq.weight"] {
        let path = d.file(f);
        if path.exists() {
            write(&path, &format!("default {weight}"))?;
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_stat() {
        let s = parse_io_stat(
            b"8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\nx\n8:0 rbytes=zz\n",
        );
        assert_eq!(s.devices.len(), 2);
        let d = s.device(8, 16).unwrap();
        assert_eq!((d.read_bytes, d.write_ios), (1459200, 353));
        assert_eq!(s.device(8, 0).unwrap().read_bytes, 0);
    }
}
