//! GPU scheduling of kernel IR: how a kernel is spread over CUDA threads.
//!
//! The NVPTX backend treats one GPU thread as one *task* of the CPU calling convention:
//! a top-level [`LoopKind::Parallel`] loop is split into as many chunks as there are
//! threads. [`launch_threads`] says how many threads a kernel is launched with: the
//! largest trip count of its top-level parallel loops, so that each thread runs one
//! iteration, or 1 for a kernel that is not made only of parallel loops (it then runs on
//! one thread: correct, slow). [`schedule`] first rewrites kernels for more threads
//! ([`collapse`]) and gives elementwise loops four elements per thread ([`vectorize`]).
//!
//! Kernels whose threads cooperate are *block kernels* ([`crate::GpuLaunch`]): the
//! lowering writes them directly when it lowers for a GPU (row reductions: [`rows`];
//! GEMMs: [`gemm`]), using thread and block indices, block-local (shared) arrays,
//! barriers and warp shuffles; `rules.rs` (run by `verify_kernel`) says where those may
//! stand and [`emulate`] is their meaning on a CPU. CPU lowering is untouched by this
//! module; see `docs/cuda.md`.

mod collapse;
mod emulate;
pub mod gemm;
mod mma;
pub mod rows;
mod rules;
pub mod tensor_gemm;
mod vector;

use crate::expr::Expr;
use crate::kernel::{Kernel, LoopKind, Stmt};

pub use collapse::collapse;
pub use emulate::emulate;
pub use mma::expand_mma;
pub(crate) use rules::check_block_rules;
pub use rules::{MAX_BLOCK, MAX_SHARED_BYTES};
pub use vector::vectorize;

/// The GPU schedule of a kernel: what the NVPTX backend compiles instead of `k`:
/// [`collapse`] (more threads for short parallel loops), then [`vectorize`] (four
/// consecutive elements per thread of an elementwise loop, 128-bit accesses). The result
/// computes exactly what `k` computes, so CPUs can run it too. (Reductions, softmax,
/// layer norm and GEMMs are block kernels already when lowered for a GPU: [`rows`],
/// [`gemm`].)
pub fn schedule(k: &Kernel) -> Kernel {
    vectorize(&collapse(k))
}

/// The most threads one kernel is launched with; larger loops give each thread a chunk
/// of consecutive iterations.
pub const MAX_THREADS: u64 = 1 << 30;

/// How many GPU threads `k` should be launched with (see the module docs).
pub fn launch_threads(k: &Kernel) -> u64 {
    if let Some(g) = k.gpu {
        return g.grid.saturating_mul(u64::from(g.block));
    }
    let mut most = 1u64;
    for s in &k.body {
        match s {
            Stmt::For {
                kind: LoopKind::Parallel,
                lo,
                hi,
                ..
            } => {
                let trips = match (lo, hi) {
                    (Expr::IConst(l, _), Expr::IConst(h, _)) => h.saturating_sub(*l).max(0) as u64,
                    // Bounds only known at run time: one chunk per thread of a full
                    // block (the split is correct for any thread count).
                    _ => 256,
                };
                most = most.max(trips);
            }
            _ => return 1,
        }
    }
    if k.body.is_empty() {
        return 1;
    }
    most.clamp(1, MAX_THREADS)
}
