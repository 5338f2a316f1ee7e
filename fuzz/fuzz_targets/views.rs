//! Fuzz target `views`: see `vproc::fuzz_targets::views`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vproc::fuzz_targets::views(data));
