//! Fuzz target `kernel_text`: see `vproc::fuzz_targets::kernel_text`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vproc::fuzz_targets::kernel_text(data));
