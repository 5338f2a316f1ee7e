//! Number formatting into output buffers without allocation, matching the kernel's widths.

pub use crate::kernel::itoa::{push_u64, push_u64_width};

/// Appends `s` left-aligned in `width` columns.
pub fn push_padded(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.extend_from_slice(s);
    out.resize(out.len() + width.saturating_sub(s.len()), b' ');
}

/// Appends hundredths as `S.CC`.
pub fn push_centis(out: &mut Vec<u8>, cs: u64) {
    push_u64(out, cs / 100);
    out.push(b'.');
    let frac = cs % 100;
    if frac < 10 {
        out.push(b'0');
    }
    push_u64(out, frac);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        let mut v = Vec::new();
        push_u64_width(&mut v, 42, 5);
        push_u64_width(&mut v, 123456, 3);
        push_centis(&mut v, 1205);
        push_padded(&mut v, b"ab", 4);
        assert_eq!(v, b"   4212345612.05ab  ");
    }
}
