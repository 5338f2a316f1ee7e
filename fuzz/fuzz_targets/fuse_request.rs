//! Fuzz target `fuse_request`: see `vproc::fuzz_targets::fuse_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vproc::fuzz_targets::fuse_request(data));
