//! AArch64 specifics: target registration and the feature string of a CPU level.
//!
//! The generic code generator needs nothing else: NEON is implied by the architecture,
//! `half` conversions are single `fcvt` instructions (no compiler-rt call), and `lld`
//! picks the `aarch64linux` emulation from the object's ELF machine, so linking needs no
//! AArch64 sysroot. Each level's `llvm_features` only switches extensions off (crypto on
//! the Raspberry Pi profiles, SVE on Neoverse V1) or restates `+neon`.

use inkwell::targets::{InitializationConfig, Target};
use neoc_target_spec::CpuLevel;

/// Registers the AArch64 target with LLVM (idempotent).
pub(crate) fn initialize() {
    Target::initialize_aarch64(&InitializationConfig::default());
}

/// Extensions that code generation chooses instructions by (`codegen/dot.rs`): stated
/// as `+feature` whenever the level requires them, so the choice reads the function's
/// `target-features` instead of knowing which CPU names imply what.
const STATED: &[&str] = &["dotprod", "i8mm"];

/// LLVM target features for `level`: the CPU name (`cortex-a76`, `neoverse-n1`) implies
/// its architecture version and extensions; the level adds or removes a few, and every
/// extension of [`STATED`] it requires is named.
pub(crate) fn features(level: &CpuLevel) -> String {
    let mut features = level.llvm_features.to_string();
    for f in STATED {
        if level.required_features.contains(f) {
            if !features.is_empty() {
                features.push(',');
            }
            features.push('+');
            features.push_str(f);
        }
    }
    features
}
