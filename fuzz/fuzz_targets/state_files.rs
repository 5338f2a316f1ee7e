//! Fuzz target `state_files`: see `vproc::fuzz_targets::state_files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vproc::fuzz_targets::state_files(data));
