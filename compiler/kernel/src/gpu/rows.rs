//! Row reductions as block kernels: one block of threads per row (softmax, layer norm,
//! Reduce*, global pooling on GPUs).
//!
//! The CPU lowering gives each row to one task, which on a GPU is one thread walking the
//! whole row (a 768-wide BERT row: 768 dependent loads per thread, a few hundred threads
//! for the whole kernel). Here a row gets a block of 32–256 threads: thread `t` visits
//! elements `t, t + B, t + 2B, …` (neighbouring threads read neighbouring elements, so
//! loads coalesce), keeps a partial result in a register, and [`Rows::all_reduce`]
//! combines the partials — a butterfly of warp shuffles (`xor 16, 8, 4, 2, 1`) gives every
//! lane its warp's result, lane 0 of each warp writes it to a block-local array, and after
//! a barrier every thread combines the warps' results in the same order, so all threads
//! hold the same row result and can write their own elements of the output.
//!
//! The lowering picks this form when it lowers for a GPU ([`for_gpu`]) and the rows are
//! long enough to keep a warp busy ([`MIN_ROW`]); its CPU meaning (`gpu::emulate`) is what
//! `gpu_schedule.rs` checks against the reference outputs.

use crate::builder::KernelBuilder;
use crate::expr::{BinaryOp, CmpOp, Expr};
use crate::kernel::{GpuLaunch, LoopKind, ScalarType, VarId};
use crate::lower::VectorUnit;

/// `VectorUnit::parallelism` above this means the lowering is for a GPU (CUDA levels
/// declare 65 536; CPUs a few dozen).
pub const GPU_PARALLELISM: u32 = 4096;

/// Rows shorter than this keep one thread per row (a block would idle most of a warp).
pub const MIN_ROW: u64 = 32;

/// Whether kernels lowered for `unit` run on a GPU.
pub fn for_gpu(unit: &VectorUnit) -> bool {
    unit.parallelism > GPU_PARALLELISM
}

/// Whether rows of `len` elements of `t` are lowered as one block per row for `unit`.
pub fn block_per_row(unit: &VectorUnit, len: u64, t: ScalarType) -> bool {
    for_gpu(unit) && t == ScalarType::F32 && len >= MIN_ROW
}

/// Most elements of a row one thread keeps in registers (softmax and layer norm read
/// the row from memory once when each thread's share fits).
pub const MAX_CACHED: i64 = 8;

/// Threads per block for rows of `len`: about four elements per thread, from one warp
/// (rows up to 128) to 256 threads (rows over 512, e.g. BERT's 768).
pub fn row_block(len: u64) -> u32 {
    match len {
        0..=128 => 32,
        129..=256 => 64,
        257..=512 => 128,
        _ => 256,
    }
}

/// A block kernel with one block per row of `len` elements.
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    pub block: u32,
    pub len: i64,
}

impl Rows {
    /// Makes the kernel being built a block kernel over `rows` rows of `len`.
    pub fn start(b: &mut KernelBuilder, rows: u64, len: u64) -> Rows {
        let block = row_block(len);
        b.set_gpu(GpuLaunch {
            block,
            grid: rows.max(1),
        });
        Rows {
            block,
            len: len as i64,
        }
    }

    /// The row of this block.
    pub fn row(&self) -> Expr {
        Expr::BlockIdx
    }

    /// Runs `body(b, i)` for each element `i` (`0..len`) of the row this thread owns:
    /// `i = thread + j·block`.
    pub fn each(&self, b: &mut KernelBuilder, body: impl FnOnce(&mut KernelBuilder, Expr)) {
        let block = i64::from(self.block);
        let steps = (self.len + block - 1) / block;
        let len = self.len;
        b.for_loop("j", 0, steps, LoopKind::Serial, |b, j| {
            let i = Expr::ThreadIdx + j * Expr::i64(block);
            if len % block == 0 {
                body(b, i);
            } else {
                b.if_then(i.clone().lt(Expr::i64(len)), |b| body(b, i));
            }
        });
    }

    /// Elements of the row per thread (the last ones may be past the row's end).
    pub fn per_thread(&self) -> i64 {
        let block = i64::from(self.block);
        (self.len + block - 1) / block
    }

    /// Whether this thread's elements of the row fit in registers
    /// ([`Rows::each_unrolled`] with one variable per element).
    pub fn fits_registers(&self) -> bool {
        self.per_thread() <= MAX_CACHED
    }

    /// Like [`Rows::each`], unrolled: `body(b, j, i)` for the `j`-th element `i` of this
    /// thread (so element `j` can live in its own variable across passes over the row).
    pub fn each_unrolled(
        &self,
        b: &mut KernelBuilder,
        mut body: impl FnMut(&mut KernelBuilder, usize, Expr),
    ) {
        let block = i64::from(self.block);
        for j in 0..self.per_thread() {
            let i = Expr::ThreadIdx + Expr::i64(j * block);
            if (j + 1) * block <= self.len {
                body(b, j as usize, i);
            } else {
                b.if_then(i.clone().lt(Expr::i64(self.len)), |b| {
                    body(b, j as usize, i)
                });
            }
        }
    }

    /// Replaces the `f32` variable `v` in every thread by `op` (`Add`, `Mul`, `Max`,
    /// `Min`) over the values all threads of the block hold (see the module docs). Every
    /// thread of the block must reach it.
    pub fn all_reduce(&self, b: &mut KernelBuilder, op: BinaryOp, v: VarId) {
        let mut mask = 16;
        while mask >= 1 {
            if mask < self.block {
                let other = Expr::shuffle_xor(Expr::var(v), mask);
                b.assign(v, Expr::binary(op, Expr::var(v), other));
            }
            mask /= 2;
        }
        let warps = u64::from(self.block / 32);
        if warps <= 1 {
            return;
        }
        let partial = b.local("warp_partial", ScalarType::F32, warps);
        let lane = Expr::binary(BinaryOp::Rem, Expr::ThreadIdx, Expr::i64(32));
        b.if_then(Expr::cmp(CmpOp::Eq, lane, Expr::i64(0)), |b| {
            b.store(partial, Expr::ThreadIdx / Expr::i64(32), Expr::var(v));
        });
        b.barrier();
        b.assign(v, Expr::load(partial, Expr::i64(0)));
        for w in 1..warps as i64 {
            let p = Expr::load(partial, Expr::i64(w));
            b.assign(v, Expr::binary(op, Expr::var(v), p));
        }
    }

    /// `body(b)` on thread 0 only (the one store of a row's single result).
    pub fn first_thread(&self, b: &mut KernelBuilder, body: impl FnOnce(&mut KernelBuilder)) {
        b.if_then(Expr::cmp(CmpOp::Eq, Expr::ThreadIdx, Expr::i64(0)), body);
    }
}
