//! Fuzz target `cgroup_files`: see `vproc::fuzz_targets::cgroup_files`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vproc::fuzz_targets::cgroup_files(data));
