//! Code generation: one shared object per CPU level of the target, best level first (for a
//! CUDA target: one PTX module for its compute capability, `docs/cuda.md`).

use crate::error::DriverError;
use neoc_artifact::CodeVariant;
use neoc_kernel::Module;
use neoc_target_spec::{CpuLevel, Target};

/// Builds every code variant of `target`; `module_for(level)` gives the kernels lowered
/// for that level's vector unit (same names and parameters for every level).
pub fn generate(
    target: &Target,
    opt_level: u8,
    module_for: impl Fn(&CpuLevel) -> Result<Module, DriverError>,
) -> Result<Vec<CodeVariant>, DriverError> {
    let opts = neoc_llvm::CodegenOptions {
        opt_level: if opt_level == 0 { 1 } else { 3 },
        ..neoc_llvm::CodegenOptions::default()
    };
    target
        .levels
        .iter()
        .map(|level| {
            let mut module = module_for(level)?;
            let code = if target.arch == neoc_target_spec::Arch::Nvptx64 {
                // CUDA: GPU schedules, then PTX text; each kernel's launch size travels
                // in the PTX.
                module.kernels = module
                    .kernels
                    .iter()
                    .map(neoc_kernel::gpu::schedule)
                    .collect();
                let threads: Vec<u64> = module
                    .kernels
                    .iter()
                    .map(neoc_kernel::gpu::launch_threads)
                    .collect();
                neoc_llvm::compile_ptx(&module, &threads, target, level, &opts)?.into_bytes()
            } else {
                neoc_llvm::compile_shared_object(&module, target, level, &opts)?
            };
            Ok(CodeVariant {
                name: level.name.to_string(),
                cpu: level.llvm_cpu.to_string(),
                required_features: level
                    .required_features
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                code,
            })
        })
        .collect()
}
