//! The GPU matrix product: a block kernel tiled in shared memory, under MatMul, Gemm
//! and the convolutions that run as GEMMs (1×1 and implicit-GEMM, `lower/conv.rs`).
//!
//! `C[M,N] = A[M,K] · B[K,N]` for `batch` independent problems. One block of 256
//! threads owns a `bm × bn` tile of C ([`Tile`]) and walks K in steps of `bk`:
//!
//! 1. the block loads the `bm × bk` slice of A and the `bk × bn` slice of B into two
//!    block-local (shared-memory) arrays, every thread a few elements; neighbouring
//!    threads load neighbouring elements of a row, so the global loads coalesce; an
//!    element outside the matrices (edge tiles, K not a multiple of `bk`, a convolution
//!    window over the padding) is stored as 0 instead of being loaded;
//! 2. barrier;
//! 3. each thread accumulates its `tm × tn` register tile over the `bk` steps: per step
//!    `tm` values of A and `tn` of B from shared memory, `tm · tn` FMAs. A thread's rows
//!    and columns are strided (`ty + i·bm/tm`, `tx + j·bn/tn`), so the threads of a warp
//!    read consecutive shared words (no bank conflicts) and later store consecutive
//!    columns of C (coalesced);
//! 4. barrier (the next step overwrites the tiles).
//!
//! Then every thread finishes its elements inside the matrix — bias, `alpha`/`beta`, the
//! fused epilogue (the CPU GEMM's `finish`, reused as is) — and stores each once: no
//! partial sums go through C (so a 16-bit C is rounded once, not once per K block).
//!
//! B is read through a function of `(batch, k, column)` that may add a condition
//! ([`BAt`]): a plain or packed matrix gives only an index, the implicit-GEMM
//! convolution computes the input pixel of `(k = (channel, kh, kw), column = pixel)`
//! and its "inside the image" test, so the im2col matrix is never written.
//!
//! Tile sizes by problem size ([`Tile::for_problem`]): 128×128 (8×8 per thread) when
//! that still gives enough blocks to fill a large GPU, else 64×64 (4×4), else 32×32
//! (2×2); products of at most 16 rows (batch-1 linear layers) take 16×64 tiles of 1×4.
//! The emulation on CPUs (`gpu::emulate`) runs the same kernel, which is how the tests
//! check it without a GPU.

use crate::builder::KernelBuilder;
use crate::expr::{Expr, MmaInput};
use crate::kernel::{Access, BufId, GpuLaunch, Kernel, LoopKind, ScalarType, VarId};

/// `(batch, row, k) → element index` of `A[row, k]`.
pub(crate) type AAt<'a> = &'a dyn Fn(&Expr, Expr, Expr) -> Expr;
/// `(batch, k, column) → (condition, element index)` of `B[k, column]`; where the
/// condition is false the element is 0 and nothing is loaded.
pub(crate) type BAt<'a> = &'a dyn Fn(&Expr, Expr, Expr) -> (Option<Expr>, Expr);
/// `(batch, row, column) → element index` of `C[row, column]`.
pub(crate) type CAt<'a> = &'a dyn Fn(&Expr, Expr, Expr) -> Expr;
/// `(builder, batch, row, column, value) → final value` of one output element.
pub(crate) type Finish<'a> = &'a dyn Fn(&mut KernelBuilder, &Expr, Expr, Expr, Expr) -> Expr;

/// Threads per block of every GEMM tile shape.
pub const THREADS: i64 = 256;
/// Blocks a product should have before larger tiles are used: two per streaming
/// multiprocessor of an H100 (132). Fewer, larger blocks reuse each loaded element
/// more; more, smaller blocks keep every multiprocessor busy.
pub const TARGET_BLOCKS: i64 = 264;

/// The block tile (`bm × bn` of C, K in steps of `bk`) and each thread's register tile
/// (`tm × tn`); `(bm / tm) · (bn / tn)` = [`THREADS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub bm: i64,
    pub bn: i64,
    pub bk: i64,
    pub tm: i64,
    pub tn: i64,
}

impl Tile {
    pub const LARGE: Tile = Tile {
        bm: 128,
        bn: 128,
        bk: 16,
        tm: 8,
        tn: 8,
    };
    pub const MEDIUM: Tile = Tile {
        bm: 64,
        bn: 64,
        bk: 16,
        tm: 4,
        tn: 4,
    };
    pub const SMALL: Tile = Tile {
        bm: 32,
        bn: 32,
        bk: 32,
        tm: 2,
        tn: 2,
    };
    /// At most 16 rows (batch-1 linear layers, classifier heads).
    pub const ROWS: Tile = Tile {
        bm: 16,
        bn: 64,
        bk: 16,
        tm: 1,
        tn: 4,
    };

    /// The tile for `batch` products of `m × n` (see the module docs).
    pub fn for_problem(batch: i64, m: i64, n: i64) -> Tile {
        if m <= Tile::ROWS.bm {
            return Tile::ROWS;
        }
        [Tile::LARGE, Tile::MEDIUM]
            .into_iter()
            .find(|t| t.blocks(batch, m, n) >= TARGET_BLOCKS)
            .unwrap_or(Tile::SMALL)
    }

    /// Blocks covering `batch` products of `m × n`.
    pub fn blocks(self, batch: i64, m: i64, n: i64) -> i64 {
        batch * div_ceil(m, self.bm) * div_ceil(n, self.bn)
    }

    /// Threads along N (a thread's column stride).
    fn tx(self) -> i64 {
        self.bn / self.tn
    }

    /// Threads along M (a thread's row stride).
    fn ty(self) -> i64 {
        self.bm / self.tm
    }

    /// Row stride of the A tile in shared memory: padded by 4 so the threads storing
    /// one row's `bk` elements hit different banks.
    fn a_stride(self) -> i64 {
        self.bm + 4
    }
}

fn div_ceil(a: i64, b: i64) -> i64 {
    (a + b - 1) / b.max(1)
}

/// One batched product for the GPU and where its operands live.
pub(crate) struct BlockGemm<'a> {
    pub batch: i64,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub a: BufId,
    pub a_at: AAt<'a>,
    pub b: BufId,
    pub b_at: BAt<'a>,
    pub c: BufId,
    pub c_at: CAt<'a>,
    pub finish: Option<Finish<'a>>,
    /// Tensor cores with operands rounded to this format ([`super::tensor_gemm`]), or
    /// `f32` FMAs on CUDA cores.
    pub mma: Option<MmaInput>,
}

impl BlockGemm<'_> {
    /// Makes `b`'s kernel a block kernel computing the whole product (module docs).
    pub fn emit(&self, b: &mut KernelBuilder) {
        match self.mma {
            Some(input) => {
                let t = super::tensor_gemm::MmaTile::for_problem(self.batch, self.m, self.n);
                super::tensor_gemm::emit(self, b, input, t);
            }
            None => self.emit_with(b, Tile::for_problem(self.batch, self.m, self.n)),
        }
    }

    /// [`BlockGemm::emit`] with a chosen tile.
    pub fn emit_with(&self, b: &mut KernelBuilder, t: Tile) {
        let (mb, nb) = (div_ceil(self.m, t.bm), div_ceil(self.n, t.bn));
        let grid = (self.batch * mb * nb).max(1);
        b.set_gpu(GpuLaunch {
            block: THREADS as u32,
            grid: grid as u64,
        });
        let f32t = ScalarType::F32;
        let a_tile = b.local("a_tile", f32t, (t.bk * t.a_stride()) as u64);
        let b_tile = b.local("b_tile", f32t, (t.bk * t.bn) as u64);
        let tid = Expr::ThreadIdx;
        let blk = Expr::BlockIdx;
        let bi = b.let_var("bi", ScalarType::I64, blk.clone() / Expr::i64(mb * nb));
        let bi = Expr::var(bi);
        let rest = blk % Expr::i64(mb * nb);
        let row0 = b.let_var(
            "row0",
            ScalarType::I64,
            rest.clone() / Expr::i64(nb) * Expr::i64(t.bm),
        );
        let col0 = b.let_var(
            "col0",
            ScalarType::I64,
            rest % Expr::i64(nb) * Expr::i64(t.bn),
        );
        let (row0, col0) = (Expr::var(row0), Expr::var(col0));
        let tx = b.let_var("tx", ScalarType::I64, tid.clone() % Expr::i64(t.tx()));
        let ty = b.let_var("ty", ScalarType::I64, tid.clone() / Expr::i64(t.tx()));
        let (tx, ty) = (Expr::var(tx), Expr::var(ty));
        let acc: Vec<Vec<VarId>> = (0..t.tm)
            .map(|i| {
                (0..t.tn)
                    .map(|j| b.let_var(format!("acc{i}_{j}"), f32t, Expr::f32(0.0)))
                    .collect()
            })
            .collect();
        let av: Vec<VarId> = (0..t.tm).map(|i| b.var(format!("a{i}"), f32t)).collect();
        let bv: Vec<VarId> = (0..t.tn).map(|j| b.var(format!("b{j}"), f32t)).collect();
        let k_steps = div_ceil(self.k, t.bk).max(1);
        b.for_loop("kt", 0, k_steps, LoopKind::Serial, |b, kt| {
            let k0 = kt * Expr::i64(t.bk);
            // A slice: bm × bk, element e = (row e / bk, k e % bk).
            for i in 0..t.bm * t.bk / THREADS {
                let e = tid.clone() + Expr::i64(i * THREADS);
                let (r, kk) = (e.clone() / Expr::i64(t.bk), e % Expr::i64(t.bk));
                let (row, kg) = (row0.clone() + r.clone(), k0.clone() + kk.clone());
                let at = kk * Expr::i64(t.a_stride()) + r;
                let inside = row
                    .clone()
                    .lt(Expr::i64(self.m))
                    .and(kg.clone().lt(Expr::i64(self.k)));
                let src = (self.a_at)(&bi, row, kg);
                guarded_copy(b, inside, (self.a, src), (a_tile, at));
            }
            // B slice: bk × bn, element e = (k e / bn, column e % bn).
            for i in 0..t.bk * t.bn / THREADS {
                let e = tid.clone() + Expr::i64(i * THREADS);
                let (kk, j) = (e.clone() / Expr::i64(t.bn), e % Expr::i64(t.bn));
                let (kg, col) = (k0.clone() + kk.clone(), col0.clone() + j.clone());
                let at = kk * Expr::i64(t.bn) + j;
                let mut inside = col
                    .clone()
                    .lt(Expr::i64(self.n))
                    .and(kg.clone().lt(Expr::i64(self.k)));
                let (extra, src) = (self.b_at)(&bi, kg, col);
                if let Some(extra) = extra {
                    inside = inside.and(extra);
                }
                guarded_copy(b, inside, (self.b, src), (b_tile, at));
            }
            b.barrier();
            b.for_loop("kk", 0, t.bk, LoopKind::Unroll, |b, kk| {
                for (i, &a) in av.iter().enumerate() {
                    let r = ty.clone() + Expr::i64(i as i64 * t.ty());
                    let at = kk.clone() * Expr::i64(t.a_stride()) + r;
                    b.assign(a, Expr::load(a_tile, at));
                }
                for (j, &v) in bv.iter().enumerate() {
                    let c = tx.clone() + Expr::i64(j as i64 * t.tx());
                    b.assign(v, Expr::load(b_tile, kk.clone() * Expr::i64(t.bn) + c));
                }
                for (row, &a) in acc.iter().zip(&av) {
                    for (&s, &v) in row.iter().zip(&bv) {
                        b.assign(s, Expr::fma(Expr::var(a), Expr::var(v), Expr::var(s)));
                    }
                }
            });
            b.barrier();
        });
        for (i, row_acc) in acc.iter().enumerate() {
            let row = row0.clone() + ty.clone() + Expr::i64(i as i64 * t.ty());
            b.if_then(row.clone().lt(Expr::i64(self.m)), |b| {
                for (j, &s) in row_acc.iter().enumerate() {
                    let col = col0.clone() + tx.clone() + Expr::i64(j as i64 * t.tx());
                    b.if_then(col.clone().lt(Expr::i64(self.n)), |b| {
                        let v = match self.finish {
                            Some(f) => f(b, &bi, row.clone(), col.clone(), Expr::var(s)),
                            None => Expr::var(s),
                        };
                        let at = (self.c_at)(&bi, row.clone(), col);
                        b.store(self.c, at, v);
                    });
                }
            });
        }
    }
}

/// A block kernel computing `C[b] = A[b] · B[b]` for `batch` row-major `f32` matrices
/// (parameters `a`: `batch × m × k`, `b`: `batch × k × n`, `c`: `batch × m × n`) with
/// `tile`, or the tile [`Tile::for_problem`] picks: the schedule alone, for tests and
/// `ptxas` figures.
pub fn product_kernel(
    name: &str,
    (batch, m, n, k): (i64, i64, i64, i64),
    tile: Option<Tile>,
) -> Kernel {
    product_kernel_on(name, (batch, m, n, k), Schedule::Fma(tile))
}

/// Which schedule [`product_kernel_on`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// `f32` FMAs with this tile (or [`Tile::for_problem`]'s).
    Fma(Option<Tile>),
    /// Tensor cores ([`super::tensor_gemm`]) with this warp tile.
    Mma(MmaInput, super::tensor_gemm::MmaTile),
}

/// [`product_kernel`] with either schedule.
pub fn product_kernel_on(
    name: &str,
    (batch, m, n, k): (i64, i64, i64, i64),
    schedule: Schedule,
) -> Kernel {
    let mut b = KernelBuilder::new(name);
    let len = |r: i64, c: i64| (batch * r * c) as u64;
    let a = b.param("a", ScalarType::F32, len(m, k), Access::Read);
    let bb = b.param("b", ScalarType::F32, len(k, n), Access::Read);
    let c = b.param("c", ScalarType::F32, len(m, n), Access::Write);
    let a_at = |bi: &Expr, r: Expr, kk: Expr| (bi.clone() * Expr::i64(m) + r) * Expr::i64(k) + kk;
    let b_at =
        |bi: &Expr, kk: Expr, j: Expr| (None, (bi.clone() * Expr::i64(k) + kk) * Expr::i64(n) + j);
    let c_at = |bi: &Expr, r: Expr, j: Expr| (bi.clone() * Expr::i64(m) + r) * Expr::i64(n) + j;
    let g = BlockGemm {
        batch,
        m,
        n,
        k,
        a,
        a_at: &a_at,
        b: bb,
        b_at: &b_at,
        c,
        c_at: &c_at,
        finish: None,
        mma: None,
    };
    match schedule {
        Schedule::Fma(tile) => g.emit_with(
            &mut b,
            tile.unwrap_or_else(|| Tile::for_problem(batch, m, n)),
        ),
        Schedule::Mma(input, t) => super::tensor_gemm::emit(&g, &mut b, input, t),
    }
    b.finish()
}

/// `dst[at] = inside ? src[index] : 0`, loading only when `inside`.
pub(crate) fn guarded_copy(
    b: &mut KernelBuilder,
    inside: Expr,
    (src, index): (BufId, Expr),
    (dst, at): (BufId, Expr),
) {
    b.if_else(
        inside,
        |b| b.store(dst, at.clone(), Expr::load(src, index)),
        |b| b.store(dst, at.clone(), Expr::f32(0.0)),
    );
}

#[cfg(test)]
mod tests {
    use super::{Tile, THREADS};

    #[test]
    fn every_tile_has_256_threads_and_whole_loads() {
        for t in [Tile::LARGE, Tile::MEDIUM, Tile::SMALL, Tile::ROWS] {
            assert_eq!(t.tx() * t.ty(), THREADS, "{t:?}");
            assert_eq!(t.bm * t.bk % THREADS, 0, "{t:?}: A slice");
            assert_eq!(t.bk * t.bn % THREADS, 0, "{t:?}: B slice");
            let shared = 4 * (t.bk * t.a_stride() + t.bk * t.bn);
            assert!(shared as u64 <= crate::gpu::MAX_SHARED_BYTES, "{t:?}");
        }
    }

    #[test]
    fn tiles_follow_the_problem_size() {
        // Batch-1 rows, a large product, and ones too small for large tiles.
        assert_eq!(Tile::for_problem(1, 1, 1000), Tile::ROWS);
        assert_eq!(Tile::for_problem(1, 4096, 4096), Tile::LARGE);
        assert_eq!(Tile::for_problem(1, 2048, 2048), Tile::MEDIUM);
        assert_eq!(Tile::for_problem(1, 64, 12544), Tile::SMALL);
        assert_eq!(Tile::for_problem(8, 512, 512), Tile::MEDIUM);
        assert_eq!(Tile::for_problem(8, 256, 256), Tile::SMALL);
    }
}
