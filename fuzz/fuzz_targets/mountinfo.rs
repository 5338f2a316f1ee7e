//! Fuzz target `mountinfo`: see `vproc::fuzz_targets::mountinfo`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vproc::fuzz_targets::mountinfo(data));
