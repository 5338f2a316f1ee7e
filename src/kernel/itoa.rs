//! Decimal formatting into output buffers without allocation, matching the kernel's widths.

/// Formats `n` in decimal into `buf`, returning the digits.
pub fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut b = [0; 20];
    out.extend_from_slice(fmt_u64(&mut b, n));
}

/// Appends `n` right-aligned in `width` columns (wider numbers are not cut).
pub fn push_u64_width(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut b = [0; 20];
    let digits = fmt_u64(&mut b, n);
    out.resize(out.len() + width.saturating_sub(digits.len()), b' ');
    out.extend_from_slice(digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        let mut b = [0; 20];
        assert_eq!(fmt_u64(&mut b, 0), b"0");
        assert_eq!(fmt_u64(&mut b, u64::MAX), b"18446744073709551615");
        let mut v = Vec::new();
        push_u64_width(&mut v, 42, 5);
        push_u64_width(&mut v, 123456, 3);
        push_u64(&mut v, 7);
        assert_eq!(v, b"   421234567");
    }
}
