//! Kernel IR: the target-neutral loop-nest programs that every code generator lowers.
//!
//! ```text
//! graph IR ──lower──▶ kernel IR (this crate) ──▶ targets/llvm, targets/cranelift
//! ```
//!
//! One [`Kernel`] is produced per fused group of graph operators. A kernel is a small
//! imperative program over flat buffers: counted loops with schedule marks, scalar
//! variables, loads, stores and arithmetic on scalars. Shapes are static, so every loop
//! bound and buffer length is known when the kernel is built and code generators may
//! specialise freely.
//!
//! The calling convention every backend implements (the runtime relies on it):
//!
//! ```text
//! void kernel(void **args, int64_t task, int64_t ntasks);
//! ```
//!
//! `args[i]` points at the buffer of [`Kernel::params`]`[i]`. `task`/`ntasks` split the
//! iteration space of top-level [`LoopKind::Parallel`] loops across threads; a caller that
//! does not thread passes `0, 1`.

pub mod builder;
pub mod expr;
pub mod gpu;
pub mod kernel;
pub mod lower;
pub mod narrow;
pub mod print;
pub mod verify;

pub use builder::KernelBuilder;
pub use expr::{BinaryOp, ByteSign, CmpOp, Expr, MmaInput, UnaryOp};
pub use kernel::{
    Access, BufId, GpuLaunch, Kernel, LocalArray, LoopKind, Module, Param, ScalarType, Stmt, Var,
    VarId,
};
pub use lower::{lower_node, lower_node_at, ArgRef, LowerError, Lowered, Stage, VectorUnit};
pub use narrow::Precision;
pub use verify::{verify_kernel, VerifyError};
