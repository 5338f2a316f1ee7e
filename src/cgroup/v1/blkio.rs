//! v1 blkio: usage from `blkio.throttle.io_service_bytes_recursive` and
//! `blkio.throttle.io_serviced_recursive`, which every kernel with blkio keeps (the CFQ-era
//! `blkio.io_*` files lxcfs reads are gone since 5.0), and the proportional weight.

use crate::cgroup::{CgroupDir, IoDevice, IoSnapshot, Result};
use crate::kernel::parse::{self, parse_dev, parse_u64};
use crate::kernel::read::{read_into, write};

const BYTES: &str = "blkio.throttle.io_service_bytes_recursive";
const IOS: &str = "blkio.throttle.io_serviced_recursive";

/// Per-device bytes and operations.
pub fn read(d: &CgroupDir, buf: &mut Vec<u8>) -> Result<IoSnapshot> {
    let mut snap = IoSnapshot::default();
    read_into(&d.file(BYTES), buf)?;
    parse_into(buf, &mut snap, true);
    read_into(&d.file(IOS), buf)?;
    parse_into(buf, &mut snap, false);
    Ok(snap)
}

/// Lines are `MAJ:MIN Op value`; the final `Total N` line has no device and is skipped, as are
/// malformed lines.
pub fn parse_into(text: &[u8], snap: &mut IoSnapshot, bytes: bool) {
    for line in text.split(|&b| b == b'\n') {
        let mut w = parse::words(line);
        let (Some(dev), Some(op), Some(val)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let (Ok((major, minor)), Ok(val)) = (parse_dev(dev), parse_u64(val)) else {
            continue;
        };
        let idx = match snap
            .devices
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            Some(i) => i,
            None => {
                snap.devices.push(IoDevice {
                    major,
                    minor,
                    ..IoDevice::default()
                });
                snap.devices.len() - 1
            }
        };
        let dev = &mut snap.devices[idx];
        let slot = match (op, bytes) {
            (b"Read", true) => &mut dev.read_bytes,
            (b"Write", true) => &mut dev.write_bytes,
            (b"Discard", true) => &mut dev.discard_bytes,
            (b"Read", false) => &mut dev.read_ios,
            (b"Write", false) => &mut dev.write_ios,
            (b"Discard", false) => &mut dev.discard_ios,
            _ => continue,
        };
        *slot = val;
    }
}

/// Sets the proportional weight (10-1000): `blkio.weight` (CFQ) or `blkio.bfq.weight` (BFQ),
/// whichever this kernel has. `Ok(false)` when it has neither.
pub fn write_weight(d: &CgroupDir, weight: u16) -> Result<bool> {
    for f in ["blkio.weight", "blkio.bfq.weight"] {
        let path = d.file(f);
        if path.exists() {
            write(&path, &weight.to_string())?;
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_files() {
        let mut s = IoSnapshot::default();
        parse_into(
            b"254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 0\n254:0 Discard 0\n254:0 Total 12288\nTotal 12288\n",
            &mut s,
            true,
        );
        parse_into(
            b"254:0 Read 1\n254:0 Write 2\nTotal 3\ngarbage line here\n",
            &mut s,
            false,
        );
        assert_eq!(s.devices.len(), 1);
        let d = s.device(254, 0).unwrap();
        assert_eq!(
            (d.read_bytes, d.write_bytes, d.read_ios, d.write_ios),
            (4096, 8192, 1, 2)
        );
    }
}
