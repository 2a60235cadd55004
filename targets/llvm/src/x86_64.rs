//! x86-64 specifics: target registration and the feature string of a CPU level.

use inkwell::targets::{InitializationConfig, Target};
use neoc_target_spec::CpuLevel;

/// Registers the X86 target with LLVM (idempotent).
pub(crate) fn initialize() {
    Target::initialize_x86(&InitializationConfig::default());
}

/// LLVM target features for `level`: the CPU name (`x86-64-v3`/`v4`) already implies
/// the ISA extensions; the level adds tuning flags such as `-prefer-256-bit`.
pub(crate) fn features(level: &CpuLevel) -> String {
    level.llvm_features.to_string()
}
