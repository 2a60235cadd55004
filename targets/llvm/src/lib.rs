//! LLVM code generation: kernel IR → optimised machine code → position-independent ELF
//! shared object. This is the only crate of neoc that links LLVM (through inkwell).
//!
//! ```text
//!  neoc_kernel::Module ──codegen.rs──▶ LLVM IR (one function per kernel,
//!      (verified)          math.rs      math expanded inline, no libm)
//!                                         │ verify, new-PM `default<On>`
//!                                         ▼
//!                       TargetMachine (triple, CpuLevel cpu+features, PIC)
//!                                         │ emit object to memory
//!                                         ▼
//!                    link.rs: lld -shared -z defs ──▶ .so bytes (no undefined symbols)
//! ```
//!
//! Every kernel becomes `void name(void **args, int64_t task, int64_t ntasks)` exported
//! with default visibility, as the kernel IR calling convention requires (see
//! [`neoc_kernel`]). Target-specific choices live in the thin per-ISA files
//! (`x86_64.rs`, `aarch64.rs`); everything else is generic. See `docs/llvm-backend.md`.

mod aarch64;
mod codegen;
mod ir;
mod link;
mod math;
mod nvptx;
mod x86_64;

use std::path::PathBuf;

use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, FileType, RelocMode, Target as LlvmTarget, TargetMachine};
use inkwell::OptimizationLevel;
use neoc_target_spec::{Arch, CpuLevel, Target};

pub use link::{find_linker, Linker};
pub use nvptx::{compile_ptx, ptx_blocks, ptx_threads, PTX_BLOCK_SUFFIX, PTX_THREADS_SUFFIX};

/// Options of one code generation run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenOptions {
    /// LLVM optimisation level, `0..=3` (values above 3 mean 3).
    pub opt_level: u8,
    /// Write the optimised LLVM IR of the module here (a debugging aid). When the
    /// generated IR fails verification, the unoptimised IR is written instead.
    pub emit_llvm_ir: Option<PathBuf>,
    /// Write the generated assembly here (a debugging aid).
    pub emit_asm: Option<PathBuf>,
}

impl Default for CodegenOptions {
    fn default() -> Self {
        CodegenOptions {
            opt_level: 3,
            emit_llvm_ir: None,
            emit_asm: None,
        }
    }
}

/// Errors of the LLVM backend.
#[derive(Debug, thiserror::Error)]
pub enum LlvmError {
    /// A kernel failed the kernel IR verifier. Internal bug (in the lowering).
    #[error("cannot generate code: {0}")]
    InvalidKernel(#[from] neoc_kernel::VerifyError),
    /// Two kernels of one module have the same symbol name. Internal bug.
    #[error("cannot generate code: two kernels are named `{0}`")]
    DuplicateKernel(String),
    /// LLVM rejected the IR this crate generated. Internal bug (in this crate).
    #[error("internal error: LLVM IR generated for kernel `{kernel}` is invalid: {message}")]
    Verification { kernel: String, message: String },
    /// An LLVM IR builder call failed. Internal bug (in this crate).
    #[error("internal error while generating LLVM IR for kernel `{kernel}`: {message}")]
    Builder { kernel: String, message: String },
    /// LLVM could not create a target machine for the level: the target is not built
    /// into this LLVM, or the CPU/feature names are wrong (a bug in `targets/spec`).
    #[error(
        "cannot set up LLVM for triple `{triple}`, cpu `{cpu}`, features `{features}`: {message}"
    )]
    TargetMachine {
        triple: String,
        cpu: String,
        features: String,
        message: String,
    },
    /// The optimisation pipeline or object emission failed. Internal bug.
    #[error("internal error: LLVM {stage} failed: {message}")]
    Llvm {
        stage: &'static str,
        message: String,
    },
    /// No usable linker. Environment problem; the message says how to fix it.
    #[error(
        "no linker found to build the shared object; tried: {}. \
         Set NEOC_LLD to the path of an `ld.lld` or `rust-lld` binary, or install lld \
         (e.g. `apt install lld`)",
        tried.join("; ")
    )]
    LinkerNotFound { tried: Vec<String> },
    /// The linker ran and failed; `stderr` is its output. Usually an internal bug (an
    /// undefined symbol slipped into the object).
    #[error("linking the shared object with `{linker}` failed: {stderr}")]
    LinkFailed { linker: String, stderr: String },
    /// Reading or writing a file (temporary files, debug dumps) failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = LlvmError> = std::result::Result<T, E>;

/// The version of the LLVM library this crate is linked with, e.g. `19.1.7`.
pub fn llvm_version() -> String {
    let (major, minor, patch) = inkwell::support::get_llvm_version();
    format!("{major}.{minor}.{patch}")
}

/// Compiles every kernel of `module` for one CPU level of `target` and returns the
/// bytes of a position-independent ELF shared object exporting one symbol per kernel
/// (the kernel's name) and nothing undefined.
///
/// Kernels are verified with [`neoc_kernel::verify_kernel`] first. Thread-safe: each
/// call uses its own LLVM context.
pub fn compile_shared_object(
    module: &neoc_kernel::Module,
    target: &Target,
    level: &CpuLevel,
    opts: &CodegenOptions,
) -> Result<Vec<u8>> {
    check_kernels(module)?;
    let object = compile_object(module, target, level, opts)?;
    link::link_shared_object(&object)
}

/// Runs the kernel IR verifier on every kernel and checks that names are unique.
pub(crate) fn check_kernels(module: &neoc_kernel::Module) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for k in &module.kernels {
        neoc_kernel::verify_kernel(k)?;
        if !seen.insert(k.name.as_str()) {
            return Err(LlvmError::DuplicateKernel(k.name.clone()));
        }
    }
    Ok(())
}

/// Compiles `module` to a relocatable ELF object (the input of the link step).
pub fn compile_object(
    module: &neoc_kernel::Module,
    target: &Target,
    level: &CpuLevel,
    opts: &CodegenOptions,
) -> Result<Vec<u8>> {
    if target.arch == Arch::Nvptx64 {
        return Err(LlvmError::TargetMachine {
            triple: target.triple.to_string(),
            cpu: level.llvm_cpu.to_string(),
            features: features_for(target, level),
            message: "a CUDA target produces PTX (compile_ptx), not an object".into(),
        });
    }
    let opt = opts.opt_level.min(3);
    let machine = target_machine(target, level, opt)?;
    let context = Context::create();
    let llmod = context.create_module("neoc");
    llmod.set_triple(&machine.get_triple());
    llmod.set_data_layout(&machine.get_target_data().get_data_layout());

    let attrs = codegen::FnAttrs {
        cpu: level.llvm_cpu.to_string(),
        features: features_for(target, level),
        simd: true,
    };
    let mut cg = codegen::ModuleCodegen::new(&context, &llmod, attrs);
    for k in &module.kernels {
        cg.kernel(k)?;
    }

    verify_module(&llmod, module, opts)?;
    optimise(&llmod, &machine, opt)?;

    if let Some(path) = &opts.emit_llvm_ir {
        write_ir(&llmod, path)?;
    }
    if let Some(path) = &opts.emit_asm {
        machine
            .write_to_file(&llmod, FileType::Assembly, path)
            .map_err(|e| LlvmError::Io {
                context: format!("writing assembly to {}", path.display()),
                source: std::io::Error::other(e.to_string()),
            })?;
    }
    let buf = machine
        .write_to_memory_buffer(&llmod, FileType::Object)
        .map_err(|e| LlvmError::Llvm {
            stage: "object emission",
            message: e.to_string(),
        })?;
    Ok(buf.as_slice().to_vec())
}

/// Runs LLVM's verifier; on failure writes the unoptimised IR where asked and names the
/// kernel the message is about.
pub(crate) fn verify_module(
    llmod: &inkwell::module::Module<'_>,
    module: &neoc_kernel::Module,
    opts: &CodegenOptions,
) -> Result<()> {
    if let Err(message) = llmod.verify() {
        if let Some(path) = &opts.emit_llvm_ir {
            write_ir(llmod, path)?;
        }
        let message = message.to_string();
        return Err(LlvmError::Verification {
            kernel: codegen::kernel_named_in(&message, module),
            message,
        });
    }
    Ok(())
}

/// The new pass manager's `default<O{opt}>` pipeline, vectorizers on from `opt = 2`.
pub(crate) fn optimise(
    llmod: &inkwell::module::Module<'_>,
    machine: &TargetMachine,
    opt: u8,
) -> Result<()> {
    let pass_opts = PassBuilderOptions::create();
    let vectorize = opt >= 2;
    pass_opts.set_loop_vectorization(vectorize);
    pass_opts.set_loop_slp_vectorization(vectorize);
    pass_opts.set_loop_interleaving(vectorize);
    pass_opts.set_loop_unrolling(opt >= 1);
    llmod
        .run_passes(&format!("default<O{opt}>"), machine, pass_opts)
        .map_err(|e| LlvmError::Llvm {
            stage: "optimisation",
            message: e.to_string(),
        })
}

pub(crate) fn write_ir(llmod: &inkwell::module::Module<'_>, path: &std::path::Path) -> Result<()> {
    llmod.print_to_file(path).map_err(|e| LlvmError::Io {
        context: format!("writing LLVM IR to {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })
}

fn features_for(target: &Target, level: &CpuLevel) -> String {
    match target.arch {
        Arch::X86_64 => x86_64::features(level),
        Arch::Aarch64 => aarch64::features(level),
        Arch::Nvptx64 => nvptx::features(level),
    }
}

pub(crate) fn target_machine(target: &Target, level: &CpuLevel, opt: u8) -> Result<TargetMachine> {
    let features = features_for(target, level);
    let fail = |message: String| LlvmError::TargetMachine {
        triple: target.triple.to_string(),
        cpu: level.llvm_cpu.to_string(),
        features: features.clone(),
        message,
    };
    match target.arch {
        Arch::X86_64 => x86_64::initialize(),
        Arch::Aarch64 => aarch64::initialize(),
        Arch::Nvptx64 => nvptx::initialize(),
    }
    let triple = inkwell::targets::TargetTriple::create(target.triple);
    let llvm_target = LlvmTarget::from_triple(&triple).map_err(|e| fail(e.to_string()))?;
    let level_opt = match opt {
        0 => OptimizationLevel::None,
        1 => OptimizationLevel::Less,
        2 => OptimizationLevel::Default,
        _ => OptimizationLevel::Aggressive,
    };
    llvm_target
        .create_target_machine(
            &triple,
            level.llvm_cpu,
            &features,
            level_opt,
            if target.arch == Arch::Nvptx64 {
                RelocMode::Default
            } else {
                RelocMode::PIC
            },
            CodeModel::Default,
        )
        .ok_or_else(|| fail("LLVM returned no target machine".to_string()))
}
