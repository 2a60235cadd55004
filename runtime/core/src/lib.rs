//! The neoc runtime: loads a compiled artifact and runs it. No compiler, no LLVM.
//!
//! ```text
//!   Model::load(path) ── mmap ── Artifact::parse (validate all) ── arch check
//!        │                                  └─ pick best code variant for this CPU
//!        │                                     └─ memfd + dlopen, resolve kernels
//!        ▼
//!   Model (immutable, Send + Sync) ──new_context()──▶ Context (arena)
//!                                                      └─ run(inputs) ─▶ outputs
//!                                                          check signature, then call each
//!                                                          plan step's kernel in order
//! ```
//!
//! Kernel ABI: `void kernel(void **args, int64_t task, int64_t ntasks)`; `args[i]` points
//! at the step's i-th buffer. Arena, output and weight pointers are 64-byte aligned; input
//! pointers are aligned for their dtype (misaligned caller data is copied). Kernels write
//! only outputs and the arena.
//!
//! See `docs/runtime.md` for the thread-safety contract and environment variables.

mod code;
mod cpu;
mod error;
mod model;
mod pool;
mod tensor;

pub use cpu::{aarch64_hwcap_features, host_cpu_features, CPU_FEATURES_MASK_ENV};
pub use error::{Result, RuntimeError};
pub use model::{Context, Model, SelectedVariant};
pub use neoc_artifact::{Arch, DType, TargetInfo, TensorSpec};
pub use tensor::{Element, Tensor, TensorRef, BUFFER_ALIGN};
