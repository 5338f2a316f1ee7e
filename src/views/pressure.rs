//! Renders `/proc/pressure/{cpu,memory,io}` for one container: its cgroup's own pressure file
//! (v2), in the host file's format. Where the cgroup has none (v1, or v2 with
//! `cgroup.pressure` off) the host's file is served as it is: the stalls of the machine the
//! container runs on, which is what the kernel shows it without vproc.

use super::fmt::{push_centis, push_u64};
use crate::cgroup::{Psi, PsiLine};

/// Renders the container's pressure file (`psi`), or `host` verbatim for `None`.
pub fn render(host: &[u8], psi: Option<&Psi>, out: &mut Vec<u8>) {
    let Some(p) = psi else {
        out.extend_from_slice(host);
        return;
    };
    push_line(out, b"some", &p.some);
    if let Some(full) = &p.full {
        push_line(out, b"full", full);
    }
}

fn push_line(out: &mut Vec<u8>, kind: &[u8], l: &PsiLine) {
    out.extend_from_slice(kind);
    for (key, v) in [
        (&b" avg10="[..], l.avg10),
        (b" avg60=", l.avg60),
        (b" avg300=", l.avg300),
    ] {
        out.extend_from_slice(key);
        push_centis(out, u64::from(v));
    }
    out.extend_from_slice(b" total=");
    push_u64(out, l.total);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_file_in_the_kernels_format() {
        let text = b"some avg10=1.25 avg60=0.05 avg300=100.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n";
        let p = crate::cgroup::text::parse_psi(text).unwrap();
        let mut out = Vec::new();
        render(b"host\n", Some(&p), &mut out);
        assert_eq!(out, text);
    }

    #[test]
    fn without_the_cgroups_the_hosts() {
        let mut out = Vec::new();
        render(
            b"some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n",
            None,
            &mut out,
        );
        assert_eq!(out, b"some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n");
    }
}
