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
//! Rows shorter than a warp share one: `next_power_of_two(len)` threads per row, several
//! rows per block of [`PACKED_BLOCK`] threads, shuffles only within a row's lanes.
//!
//! The lowering picks this form when it lowers for a GPU ([`for_gpu`]) and the rows have
//! at least [`MIN_ROW`] `f32` elements; its CPU meaning (`gpu::emulate`) is what
//! `gpu_schedule.rs` checks against the reference outputs.

use crate::builder::KernelBuilder;
use crate::expr::{BinaryOp, CmpOp, Expr};
use crate::kernel::{GpuLaunch, LoopKind, ScalarType, VarId};
use crate::lower::VectorUnit;

/// `VectorUnit::parallelism` above this means the lowering is for a GPU (CUDA levels
/// declare 65 536; CPUs a few dozen).
pub const GPU_PARALLELISM: u32 = 4096;

/// Rows shorter than this keep one thread per row.
pub const MIN_ROW: u64 = 4;

/// Rows shorter than this share a warp: `next_power_of_two(len)` threads per row, several
/// rows per block ([`PACKED_BLOCK`] threads).
pub const WARP: u64 = 32;

/// Threads per block when rows share warps.
pub const PACKED_BLOCK: u32 = 128;

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

/// A block kernel with one block per row of `len` elements, or (rows under 32) several
/// rows per block, each on `width` threads of one warp.
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    pub block: u32,
    pub len: i64,
    /// Threads per row: `block`, or a power of two up to 32 when rows share warps.
    pub width: u32,
    /// Rows in the kernel.
    pub rows: i64,
}

impl Rows {
    /// Makes the kernel being built a block kernel over `rows` rows of `len`.
    pub fn start(b: &mut KernelBuilder, rows: u64, len: u64) -> Rows {
        let (block, width) = if len < WARP {
            (PACKED_BLOCK, len.next_power_of_two().max(MIN_ROW) as u32)
        } else {
            let block = row_block(len);
            (block, block)
        };
        let per_block = u64::from(block / width);
        b.set_gpu(GpuLaunch {
            block,
            grid: rows.div_ceil(per_block).max(1),
        });
        Rows {
            block,
            len: len as i64,
            width,
            rows: rows as i64,
        }
    }

    fn packed(&self) -> bool {
        self.width < self.block
    }

    /// The row of this thread.
    pub fn row(&self) -> Expr {
        if self.packed() {
            let per_block = i64::from(self.block / self.width);
            Expr::BlockIdx * Expr::i64(per_block)
                + Expr::ThreadIdx / Expr::i64(i64::from(self.width))
        } else {
            Expr::BlockIdx
        }
    }

    /// This thread's index among its row's threads.
    fn lane(&self) -> Expr {
        if self.packed() {
            Expr::binary(
                BinaryOp::Rem,
                Expr::ThreadIdx,
                Expr::i64(i64::from(self.width)),
            )
        } else {
            Expr::ThreadIdx
        }
    }

    /// `cond` and, when the last block has threads past the last row, `row < rows`.
    fn in_rows(&self, cond: Option<Expr>) -> Option<Expr> {
        let per_block = i64::from(self.block / self.width);
        let row_ok = (self.rows % per_block != 0).then(|| self.row().lt(Expr::i64(self.rows)));
        match (cond, row_ok) {
            (Some(c), Some(r)) => Some(c.and(r)),
            (c, r) => c.or(r),
        }
    }

    /// `body` under `cond` (none: unconditionally).
    fn guarded(b: &mut KernelBuilder, cond: Option<Expr>, body: impl FnOnce(&mut KernelBuilder)) {
        match cond {
            Some(c) => b.if_then(c, body),
            None => body(b),
        }
    }

    /// Runs `body(b, i)` for each element `i` (`0..len`) of the row this thread owns:
    /// `i = thread + j·block`.
    pub fn each(&self, b: &mut KernelBuilder, body: impl FnOnce(&mut KernelBuilder, Expr)) {
        let width = i64::from(self.width);
        let len = self.len;
        b.for_loop("j", 0, self.per_thread(), LoopKind::Serial, |b, j| {
            let i = self.lane() + j * Expr::i64(width);
            let past_end = (len % width != 0).then(|| i.clone().lt(Expr::i64(len)));
            Self::guarded(b, self.in_rows(past_end), |b| body(b, i));
        });
    }

    /// Elements of the row per thread (the last ones may be past the row's end).
    pub fn per_thread(&self) -> i64 {
        let width = i64::from(self.width);
        (self.len + width - 1) / width
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
        let width = i64::from(self.width);
        for j in 0..self.per_thread() {
            let i = self.lane() + Expr::i64(j * width);
            let past_end = ((j + 1) * width > self.len).then(|| i.clone().lt(Expr::i64(self.len)));
            Self::guarded(b, self.in_rows(past_end), |b| body(b, j as usize, i));
        }
    }

    /// Replaces the `f32` variable `v` in every thread by `op` (`Add`, `Mul`, `Max`,
    /// `Min`) over the values all threads of the block hold (see the module docs). Every
    /// thread of the block must reach it.
    pub fn all_reduce(&self, b: &mut KernelBuilder, op: BinaryOp, v: VarId) {
        let mut mask = 16;
        while mask >= 1 {
            if mask < self.width {
                let other = Expr::shuffle_xor(Expr::var(v), mask);
                b.assign(v, Expr::binary(op, Expr::var(v), other));
            }
            mask /= 2;
        }
        let warps = u64::from(self.block / 32);
        if warps <= 1 || self.packed() {
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
        let first = Expr::cmp(CmpOp::Eq, self.lane(), Expr::i64(0));
        Self::guarded(b, self.in_rows(Some(first)), body);
    }
}
