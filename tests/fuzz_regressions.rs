//! Every input the fuzzers (`fuzz/run.sh`) ever found crashing a parser, and the edge cases
//! written by hand next to them, replayed through the same entry points: each must return.

use std::path::Path;

#[test]
fn every_kept_input_is_handled() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut n = 0;
    for target in vproc::fuzz_targets::TARGETS {
        let dir = base.join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            vproc::fuzz_targets::run(target, &data);
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs under {}", base.display());
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for target in vproc::fuzz_targets::TARGETS {
        assert!(fuzz.join(format!("{target}.rs")).exists(), "{target}");
    }
}
