//! Renders `/proc/diskstats`: the host's device lines with the container's own counts (reads,
//! sectors read, writes, sectors written, discards, sectors discarded) and zeros in every other
//! field and for devices it did no I/O on. Without an I/O snapshot the host file is served.

use super::fmt::{push_u64, push_u64_width};
use crate::cgroup::IoSnapshot;
use crate::host::lines;
use crate::kernel::parse::{self, parse_u64};

/// Renders the container's diskstats into `out`.
pub fn render(host: &[u8], io: Option<&IoSnapshot>, out: &mut Vec<u8>) {
    let Some(io) = io else {
        out.extend_from_slice(host);
        return;
    };
    for line in lines(host) {
        let mut w = parse::words(line);
        let (Some(major), Some(minor), Some(name)) = (w.next(), w.next(), w.next()) else {
            out.extend_from_slice(line);
            out.push(b'\n');
            continue;
        };
        let (Ok(major), Ok(minor)) = (parse_u64(major), parse_u64(minor)) else {
            out.extend_from_slice(line);
            out.push(b'\n');
            continue;
        };
        let fields = w.count();
        let dev = u32::try_from(major)
            .ok()
            .zip(u32::try_from(minor).ok())
            .and_then(|(ma, mi)| io.device(ma, mi));
        let mut values = [0u64; 20];
        if let Some(d) = dev {
            values[0] = d.read_ios;
            values[2] = d.read_bytes / 512;
            values[4] = d.write_ios;
            values[6] = d.write_bytes / 512;
            values[11] = d.discard_ios;
            values[13] = d.discard_bytes / 512;
        }
        push_u64_width(out, major, 4);
        out.push(b' ');
        push_u64_width(out, minor, 7);
        out.push(b' ');
        out.extend_from_slice(name);
        for v in values.iter().take(fields.min(values.len())) {
            out.push(b' ');
            push_u64(out, *v);
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::IoDevice;

    #[test]
    fn container_counts() {
        let host = b" 254       0 vda 48853 6714 2620114 17771 6104 34528 2651424 21308 0 8016 39537 3802 14 205336 398 912 59\n   7       0 loop0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let io = IoSnapshot {
            devices: vec![IoDevice {
                major: 254,
                minor: 0,
                read_bytes: 4096,
                read_ios: 1,
                write_bytes: 1024,
                write_ios: 2,
                ..IoDevice::default()
            }],
        };
        let mut out = Vec::new();
        render(host, Some(&io), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            " 254       0 vda 1 0 8 0 2 0 2 0 0 0 0 0 0 0 0 0 0\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        );
    }
}
