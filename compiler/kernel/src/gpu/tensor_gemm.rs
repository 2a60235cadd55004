//! The block GEMM on tensor cores ([`crate::Expr::Mma`]), for `--precision fp16|bf16`
//! on GPUs: the same product, operands and epilogue as [`super::gemm`], with the
//! register tiles replaced by warp tiles.
//!
//! A block of 256 threads is 8 warps in a 2 × 4 grid; each warp owns `wm` × `wn` mma
//! tiles of 16 × 8 ([`MmaTile`]: 2 × 4, a 32 × 32 warp tile in a 64 × 128 block tile;
//! or 1 × 2 in a 32 × 64 block when the product is too small to fill the GPU with large
//! blocks). K advances in steps of 32 (two mma steps of 16):
//!
//! 1. the block copies the A and B slices into shared memory *in fragment order*: an
//!    element goes straight to the lane and register slot that holds it in the PTX
//!    fragment layout (documented on `Expr::Mma`), so a warp later reads each fragment
//!    as one vector (`VLoad`) — no shuffles; edges are stored as 0, as in the f32 GEMM;
//! 2. barrier; for each k16 step every warp loads `wm` A and `wn` B fragments and
//!    issues `wm · wn` mma steps into its `f32` accumulators; barrier.
//!
//! Then each thread writes its accumulator vectors, one at a time, to its own slot of a
//! small block-local array and reads the four values back (kernel IR has no lane
//! extraction), applies `finish` and stores each element of C once.
//!
//! Shared memory: 64 × 128 tiles 28 KiB (A 8, B 16, the slots 4); on sm_70/sm_75 the mma
//! expansion (`gpu::expand_mma`) adds 16 KiB and stays under the 48 KiB limit.

use super::gemm::{BlockGemm, TARGET_BLOCKS, THREADS};
use crate::builder::KernelBuilder;
use crate::expr::{Expr, MmaInput};
use crate::kernel::{GpuLaunch, LoopKind, ScalarType, VarId};

/// The name of the A-fragment block-local array of a kernel built by [`emit`] (how
/// tests and figures tell it from the `f32` schedule).
pub const A_FRAGMENTS: &str = "a_frags";

/// Warps of a block along M and N.
const WARPS_M: i64 = 2;
const WARPS_N: i64 = 4;
/// K per step of the block loop (two mma steps).
const BK: i64 = 32;
const KT: i64 = BK / 16;

/// The tensor-core operand format for products lowered for `unit` with float tensors
/// stored at `precision`: on GPUs (`unit.parallelism` above 4 096, as every GPU
/// lowering tests it) at 16 bits; `None` otherwise (`f32` FMAs).
pub fn operand_format(unit: crate::VectorUnit, precision: crate::Precision) -> Option<MmaInput> {
    if unit.parallelism <= crate::lower::GPU_PARALLELISM {
        return None;
    }
    match precision {
        crate::Precision::F32 => None,
        crate::Precision::F16 => Some(MmaInput::F16),
        crate::Precision::BF16 => Some(MmaInput::BF16),
    }
}

/// Mma tiles (16 × 8) per warp along M and N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmaTile {
    pub wm: i64,
    pub wn: i64,
}

impl MmaTile {
    pub const LARGE: MmaTile = MmaTile { wm: 2, wn: 4 };
    pub const SMALL: MmaTile = MmaTile { wm: 1, wn: 2 };

    pub fn bm(self) -> i64 {
        WARPS_M * self.wm * 16
    }

    pub fn bn(self) -> i64 {
        WARPS_N * self.wn * 8
    }

    /// Large tiles when they give [`TARGET_BLOCKS`] blocks, else small ones.
    pub fn for_problem(batch: i64, m: i64, n: i64) -> MmaTile {
        let blocks = |t: MmaTile| batch * div_ceil(m, t.bm()) * div_ceil(n, t.bn());
        if blocks(MmaTile::LARGE) >= TARGET_BLOCKS {
            MmaTile::LARGE
        } else {
            MmaTile::SMALL
        }
    }
}

fn div_ceil(a: i64, b: i64) -> i64 {
    (a + b - 1) / b.max(1)
}

/// Makes `b`'s kernel the tensor-core block kernel of `g` (module docs).
pub(crate) fn emit(g: &BlockGemm<'_>, b: &mut KernelBuilder, input: MmaInput, t: MmaTile) {
    let (bm, bn) = (t.bm(), t.bn());
    let (mb, nb) = (div_ceil(g.m, bm), div_ceil(g.n, bn));
    b.set_gpu(GpuLaunch {
        block: THREADS as u32,
        grid: (g.batch * mb * nb).max(1) as u64,
    });
    let f32t = ScalarType::F32;
    let i64t = ScalarType::I64;
    let a_frag = b.local(A_FRAGMENTS, f32t, (bm * BK) as u64);
    let b_frag = b.local("b_frags", f32t, (BK * bn) as u64);
    let slots = b.local("d_slots", f32t, (THREADS * 4) as u64);
    let tid = Expr::ThreadIdx;
    let blk = Expr::BlockIdx;
    let bi = Expr::var(b.let_var("bi", i64t, blk.clone() / Expr::i64(mb * nb)));
    let rest = blk % Expr::i64(mb * nb);
    let row0 = b.let_var("row0", i64t, rest.clone() / Expr::i64(nb) * Expr::i64(bm));
    let col0 = b.let_var("col0", i64t, rest % Expr::i64(nb) * Expr::i64(bn));
    let (row0, col0) = (Expr::var(row0), Expr::var(col0));
    let lane = Expr::var(b.let_var("lane", i64t, tid.clone() % Expr::i64(32)));
    let warp = tid.clone() / Expr::i64(32);
    let wmi = Expr::var(b.let_var("wmi", i64t, warp.clone() / Expr::i64(WARPS_N)));
    let wni = Expr::var(b.let_var("wni", i64t, warp % Expr::i64(WARPS_N)));
    let acc: Vec<Vec<VarId>> = (0..t.wm)
        .map(|i| {
            (0..t.wn)
                .map(|j| {
                    let v = b.vector_var(format!("acc{i}_{j}"), f32t, 4);
                    b.assign(v, Expr::splat(Expr::f32(0.0), 4));
                    v
                })
                .collect()
        })
        .collect();
    let af: Vec<VarId> = (0..t.wm)
        .map(|i| b.vector_var(format!("a{i}"), f32t, 8))
        .collect();
    let bf: Vec<VarId> = (0..t.wn)
        .map(|j| b.vector_var(format!("b{j}"), f32t, 4))
        .collect();
    let k_steps = div_ceil(g.k, BK).max(1);
    let c = |v: i64| Expr::i64(v);
    b.for_loop("kt", 0, k_steps, LoopKind::Serial, |b, kt| {
        let k0 = kt * c(BK);
        // A slice bm × BK, element e = (row e / BK, k e % BK), to its fragment slot.
        for i in 0..bm * BK / THREADS {
            let e = tid.clone() + c(i * THREADS);
            let (r, kk) = (e.clone() / c(BK), e % c(BK));
            let (row, kg) = (row0.clone() + r.clone(), k0.clone() + kk.clone());
            let (rr, k16) = (r.clone() % c(16), kk.clone() % c(16));
            let frag_lane = (rr.clone() % c(8)) * c(4) + (k16.clone() % c(8)) / c(2);
            let slot = k16.clone() % c(2) + (rr / c(8)) * c(2) + (k16 / c(8)) * c(4);
            let tile = (r / c(16)) * c(KT) + kk / c(16);
            let at = (tile * c(32) + frag_lane) * c(8) + slot;
            let inside = row.clone().lt(c(g.m)).and(kg.clone().lt(c(g.k)));
            let src = (g.a_at)(&bi, row, kg);
            super::gemm::guarded_copy(b, inside, (g.a, src), (a_frag, at));
        }
        // B slice BK × bn, element e = (k e / bn, column e % bn), to its fragment slot.
        for i in 0..BK * bn / THREADS {
            let e = tid.clone() + c(i * THREADS);
            let (kk, j) = (e.clone() / c(bn), e % c(bn));
            let (kg, col) = (k0.clone() + kk.clone(), col0.clone() + j.clone());
            let k16 = kk.clone() % c(16);
            let frag_lane = (j.clone() % c(8)) * c(4) + (k16.clone() % c(8)) / c(2);
            let slot = k16.clone() % c(2) + (k16 / c(8)) * c(2);
            let tile = (j / c(8)) * c(KT) + kk / c(16);
            let at = (tile * c(32) + frag_lane) * c(4) + slot;
            let mut inside = col.clone().lt(c(g.n)).and(kg.clone().lt(c(g.k)));
            let (extra, src) = (g.b_at)(&bi, kg, col);
            if let Some(extra) = extra {
                inside = inside.and(extra);
            }
            super::gemm::guarded_copy(b, inside, (g.b, src), (b_frag, at));
        }
        b.barrier();
        b.for_loop("ks", 0, KT, LoopKind::Unroll, |b, ks| {
            for (i, &v) in af.iter().enumerate() {
                let tile = (wmi.clone() * c(t.wm) + c(i as i64)) * c(KT) + ks.clone();
                let at = (tile * c(32) + lane.clone()) * c(8);
                b.assign(v, Expr::vload(a_frag, at, 8));
            }
            for (j, &v) in bf.iter().enumerate() {
                let tile = (wni.clone() * c(t.wn) + c(j as i64)) * c(KT) + ks.clone();
                let at = (tile * c(32) + lane.clone()) * c(4);
                b.assign(v, Expr::vload(b_frag, at, 4));
            }
            for (row, &a) in acc.iter().zip(&af) {
                for (&d, &bv) in row.iter().zip(&bf) {
                    let step = Expr::Mma {
                        a,
                        b: bv,
                        c: d,
                        input,
                    };
                    b.assign(d, step);
                }
            }
        });
        b.barrier();
    });
    let (g4, q) = (lane.clone() / c(4), lane % c(4));
    for (i, row_acc) in acc.iter().enumerate() {
        for (j, &d) in row_acc.iter().enumerate() {
            let slot = tid.clone() * c(4);
            b.store(slots, slot.clone(), Expr::var(d));
            let r0 = row0.clone() + (wmi.clone() * c(t.wm) + c(i as i64)) * c(16) + g4.clone();
            let c0 = col0.clone() + (wni.clone() * c(t.wn) + c(j as i64)) * c(8) + q.clone() * c(2);
            for e in 0..4i64 {
                let (row, col) = (r0.clone() + c(8 * (e / 2)), c0.clone() + c(e % 2));
                let inside = row.clone().lt(c(g.m)).and(col.clone().lt(c(g.n)));
                let value = Expr::load(slots, slot.clone() + c(e));
                store_one(b, g, (row, col, inside), value, &bi);
            }
        }
    }
}

/// `C[row, col] = finish(value)` when `inside`.
fn store_one(
    b: &mut KernelBuilder,
    g: &BlockGemm<'_>,
    (row, col, inside): (Expr, Expr, Expr),
    value: Expr,
    bi: &Expr,
) {
    b.if_then(inside, |b| {
        let v = match g.finish {
            Some(f) => f(b, bi, row.clone(), col.clone(), value),
            None => value,
        };
        let at = (g.c_at)(bi, row, col);
        b.store(g.c, at, v);
    });
}
