//! AArch64 specifics: target registration and the feature string of a CPU level.
//! No AArch64 level is defined in `targets/spec` yet; this keeps the generic path honest.

use inkwell::targets::{InitializationConfig, Target};
use neoc_target_spec::CpuLevel;

/// Registers the AArch64 target with LLVM (idempotent).
pub(crate) fn initialize() {
    Target::initialize_aarch64(&InitializationConfig::default());
}

/// LLVM target features for `level` (NEON is implied by the architecture).
pub(crate) fn features(level: &CpuLevel) -> String {
    level.llvm_features.to_string()
}
