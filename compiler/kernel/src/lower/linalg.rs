//! Gemm and MatMul.
//!
//! Both run as the register-tiled product of [`super::tiled_gemm`] whenever B is
//! contiguous along N or constant (always for MatMul; for Gemm unless B is a transposed
//! runtime input). A constant B — the weights of nearly every model — is packed at
//! compile time into the strip layout of [`pack_b`], so each tile reads B sequentially.
//! Bias, `alpha`/`beta` and the fused epilogue are applied per finished tile. On GPUs the
//! tiled product is the block kernel of [`crate::gpu::gemm`], which reads B by rows:
//! constant B is then stored row-major (transposed at compile time if needed) and a
//! runtime B is never packed. A Gemm
//! with a runtime transposed B keeps the simple row-oriented product: for each output
//! row, initialise it, then for each `k` add `a[m,k] * b[k,:]` to the row.

use super::elementwise::broadcast_strides;
use super::fused::{unflatten, Epilogue};
use super::tiled_gemm::{pack_b, BLayout, CLayout, Finish, TileShape, TiledGemm, LANES};
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{Access, BufId, LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::linalg::matmul_shape;
use neoc_ir::ops::{Fused, Gemm};

/// An epilogue and the output coordinates of element `(m, n)` of the product.
type EpilogueAt<'a> = (&'a Epilogue, &'a dyn Fn(Expr, Expr) -> Vec<Expr>);

/// Where the operands of one `[M,K] x [K,N]` product live, as index functions.
struct Product {
    a: BufId,
    b: BufId,
    y: BufId,
    m: i64,
    k: i64,
    n: i64,
    /// Element strides of A along (m, k) and of B along (k, n).
    a_strides: (i64, i64),
    b_strides: (i64, i64),
    scale_a: Option<f32>,
}

impl Product {
    /// Emits `y[y_base + m*N + n] (+)= sum_k scale * a[a_base + ...] * b[b_base + ...]` for
    /// all m, n. The row is first set by `init(m, n)`.
    fn emit(
        &self,
        b: &mut KernelBuilder,
        av: VarId,
        bases: (Expr, Expr, Expr),
        init: &dyn Fn(Expr, Expr) -> Expr,
        parallel_rows: bool,
        epi: Option<EpilogueAt<'_>>,
    ) {
        let (a_base, b_base, y_base) = bases;
        let kind = if parallel_rows {
            LoopKind::Parallel
        } else {
            LoopKind::Serial
        };
        b.for_loop("m", 0, self.m, kind, |b, m| {
            let row = y_base.clone() + m.clone() * Expr::i64(self.n);
            b.for_loop("n", 0, self.n, LoopKind::Vectorize, |b, n| {
                b.store(self.y, row.clone() + n.clone(), init(m.clone(), n));
            });
            b.for_loop("k", 0, self.k, LoopKind::Serial, |b, k| {
                let a_idx = a_base.clone()
                    + m.clone() * Expr::i64(self.a_strides.0)
                    + k.clone() * Expr::i64(self.a_strides.1);
                let mut av_e = Expr::load(self.a, a_idx);
                if let Some(s) = self.scale_a {
                    av_e = av_e * Expr::f32(s);
                }
                b.assign(av, av_e);
                b.for_loop("n", 0, self.n, LoopKind::Vectorize, |b, n| {
                    let b_idx = b_base.clone()
                        + k.clone() * Expr::i64(self.b_strides.0)
                        + n.clone() * Expr::i64(self.b_strides.1);
                    let dst = row.clone() + n;
                    let v = Expr::fma(
                        Expr::var(av),
                        Expr::load(self.b, b_idx),
                        Expr::load(self.y, dst.clone()),
                    );
                    b.store(self.y, dst, v);
                });
            });
            if let Some((epi, coords)) = epi {
                b.for_loop("n", 0, self.n, LoopKind::Vectorize, |b, n| {
                    let dst = row.clone() + n.clone();
                    let c = coords(m.clone(), n);
                    let v = epi.value(b, Expr::load(self.y, dst.clone()), &c);
                    b.store(self.y, dst, v);
                });
            }
        });
    }
}

/// Rows of A from which a runtime B is packed before the product.
const MIN_ROWS_TO_PACK: i64 = 48;
/// Elements of B from which a runtime B is packed (smaller ones stay in cache anyway).
const MIN_B_TO_PACK: i64 = 1 << 16;

/// The stage that packs `mats` runtime matrices `src[K,N]` into [`pack_b`]'s layout:
/// full 16-column strips as 16-lane vector copies, then the partial strip.
fn emit_pack_b(b: &mut KernelBuilder, (src, dst): (BufId, BufId), (mats, k, n): (i64, i64, i64)) {
    let lanes = i64::from(LANES);
    let (strips, full) = (n / lanes, n / lanes * lanes);
    if strips > 0 {
        b.for_loop("t", 0, mats * strips, LoopKind::Parallel, |b, t| {
            let base = (t.clone() / Expr::i64(strips)) * Expr::i64(k * n);
            let col = (t % Expr::i64(strips)) * Expr::i64(lanes);
            b.for_loop("k", 0, k, LoopKind::Serial, |b, kk| {
                let from = base.clone() + kk.clone() * Expr::i64(n) + col.clone();
                let to = base.clone() + col.clone() * Expr::i64(k) + kk * Expr::i64(lanes);
                b.store(dst, to, Expr::vload(src, from, LANES));
            });
        });
    }
    if full < n {
        b.for_loop("t", 0, mats, LoopKind::Parallel, |b, mat| {
            let base = mat * Expr::i64(k * n);
            b.for_loop("k", 0, k, LoopKind::Serial, |b, kk| {
                b.for_loop("j", 0, n - full, LoopKind::Vectorize, |b, j| {
                    let from =
                        base.clone() + kk.clone() * Expr::i64(n) + Expr::i64(full) + j.clone();
                    let to =
                        base.clone() + Expr::i64(full * k) + kk.clone() * Expr::i64(n - full) + j;
                    b.store(dst, to, Expr::load(src, from));
                });
            });
        });
    }
}

/// Constant B (`k × n`, or `n × k` when `transposed`) row-major as `k × n`.
fn rows_of(b: &[f32], k: i64, n: i64, transposed: bool) -> Vec<f32> {
    if !transposed {
        return b.to_vec();
    }
    let (k, n) = (k as usize, n as usize);
    (0..k * n).map(|i| b[(i % n) * k + i / n]).collect()
}

pub(super) fn gemm(cx: &mut Ctx<'_>, g: &Gemm, fused: Option<&Fused>) -> Result<(), LowerError> {
    let (Some(va), Some(vb)) = (cx.input(0), cx.input(1)) else {
        return cx.err("missing operand");
    };
    if cx.scalar_type(va)? != ScalarType::F32 {
        return cx.err("only float32 Gemm is supported");
    }
    let (ad, bd, yd) = (cx.dims(va)?, cx.dims(vb)?, cx.dims(cx.output(0))?);
    let (m, n) = (yd[0] as i64, yd[1] as i64);
    let k = if g.trans_a { ad[0] } else { ad[1] } as i64;
    let a = cx.bind_input(0)?;
    let gpu = cx.unit.parallelism > super::conv::GEMM_ONLY_PARALLELISM;
    let packed = cx.const_f32(vb);
    let b = match &packed {
        // GPUs read B by rows (each shared-memory tile row is one coalesced load).
        Some(w) if gpu => cx.bind_constant("b_rows", &rows_of(w, k, n, g.trans_b)),
        Some(w) => cx.bind_constant("b_packed", &pack_b(w, k as usize, n as usize, g.trans_b)),
        None => cx.bind_input(1)?,
    };
    let c = match cx.anchor_input(2) {
        Some(vc) if g.beta != 0.0 => Some((cx.bind_input(2)?, cx.dims(vc)?)),
        _ => None,
    };
    let y = cx.bind_output(0)?;
    let epi = match fused {
        Some(f) => Some(Epilogue::bind(cx, f, &yd, ScalarType::F32)?),
        None => None,
    };
    let p = Product {
        a,
        b,
        y,
        m,
        k,
        n,
        a_strides: if g.trans_a {
            (1, ad[1] as i64)
        } else {
            (ad[1] as i64, 1)
        },
        b_strides: if g.trans_b {
            (1, bd[1] as i64)
        } else {
            (bd[1] as i64, 1)
        },
        scale_a: (g.alpha != 1.0).then_some(g.alpha),
    };
    let beta = g.beta;
    let init = |mi: Expr, ni: Expr| -> Expr {
        match &c {
            Some((cb, cd)) => {
                let s = broadcast_strides(cd, &[m as u64, n as u64]);
                let idx = mi * Expr::i64(s[0] as i64) + ni * Expr::i64(s[1] as i64);
                let v = Expr::load(*cb, idx);
                if beta == 1.0 {
                    v
                } else {
                    v * Expr::f32(beta)
                }
            }
            None => Expr::f32(0.0),
        }
    };
    if packed.is_some() || !g.trans_b {
        let (a_rs, a_cs) = p.a_strides;
        let a_at = |_: &Expr, row: Expr, kk: Expr| row * Expr::i64(a_rs) + kk * Expr::i64(a_cs);
        let b_row = |_: &Expr, kk: Expr| kk * Expr::i64(n);
        let zero = |_: &Expr| Expr::i64(0);
        let b_layout = match packed {
            Some(_) if !gpu => BLayout::Packed(&zero),
            _ => BLayout::Rows(&b_row),
        };
        let c_row = |_: &Expr, row: Expr| row * Expr::i64(n);
        let alpha = g.alpha;
        let finish = |b: &mut KernelBuilder, _: &Expr, row: Expr, col: Expr, v: Expr| {
            let v = if alpha == 1.0 {
                v
            } else {
                v * Expr::f32(alpha)
            };
            let v = match &c {
                Some(_) => v + init(row.clone(), col.clone()),
                None => v,
            };
            match &epi {
                Some(e) => e.value(b, v, &[row, col]),
                None => v,
            }
        };
        let needs_finish = alpha != 1.0 || c.is_some() || epi.is_some();
        TiledGemm {
            shape: TileShape::for_unit(cx.unit).with_mma(cx.mma_input()),
            batch: 1,
            m,
            n,
            k,
            a,
            a_at: &a_at,
            b,
            b_layout,
            c: y,
            c_layout: CLayout::Rows {
                row: &c_row,
                finish: needs_finish.then_some(&finish as Finish<'_>),
            },
        }
        .emit(&mut cx.b);
        return Ok(());
    }
    let av = cx.b.var("a", ScalarType::F32);
    let coords = |mi: Expr, ni: Expr| vec![mi, ni];
    p.emit(
        &mut cx.b,
        av,
        (Expr::i64(0), Expr::i64(0), Expr::i64(0)),
        &init,
        true,
        epi.as_ref()
            .map(|e| (e, &coords as &dyn Fn(Expr, Expr) -> Vec<Expr>)),
    );
    Ok(())
}

pub(super) fn matmul(cx: &mut Ctx<'_>, fused: Option<&Fused>) -> Result<(), LowerError> {
    let (Some(va), Some(vb)) = (cx.input(0), cx.input(1)) else {
        return cx.err("missing operand");
    };
    let t = cx.scalar_type(va)?;
    if t == ScalarType::Bool {
        return cx.err("MatMul is not defined for bool");
    }
    let (ad, bd) = (cx.dims(va)?, cx.dims(vb)?);
    if let Err(e) = matmul_shape(&ad, &bd) {
        return cx.err(format!("{e:?}"));
    }
    // Promote 1-D operands as numpy does.
    let a2: Vec<u64> = if ad.len() == 1 {
        vec![1, ad[0]]
    } else {
        ad.clone()
    };
    let b2: Vec<u64> = if bd.len() == 1 {
        vec![bd[0], 1]
    } else {
        bd.clone()
    };
    let (m, k) = (a2[a2.len() - 2] as i64, a2[a2.len() - 1] as i64);
    let n = b2[b2.len() - 1] as i64;
    let a_batch = &a2[..a2.len() - 2];
    let b_batch = &b2[..b2.len() - 2];
    let rank = a_batch.len().max(b_batch.len());
    let mut batch = vec![1u64; rank];
    for (src, off) in [
        (a_batch, rank - a_batch.len()),
        (b_batch, rank - b_batch.len()),
    ] {
        for (i, &d) in src.iter().enumerate() {
            batch[off + i] = batch[off + i].max(d);
        }
    }
    // Batch strides in units of whole matrices.
    let sa = broadcast_strides(a_batch, &batch);
    let sb = broadcast_strides(b_batch, &batch);
    if t != ScalarType::F32 {
        if fused.is_some() {
            return cx.err("internal: only float32 MatMul carries an epilogue");
        }
        return matmul_scalar(cx, t, (&batch, &sa, &sb), (m, k, n));
    }
    let a = cx.bind_input(0)?;
    // GPUs read B by rows as it is (`gpu::gemm`): no packing.
    let gpu = cx.unit.parallelism > super::conv::GEMM_ONLY_PARALLELISM;
    let packed = cx.const_f32(vb).filter(|_| !gpu).map(|w| {
        let mat = (k * n) as usize;
        w.chunks_exact(mat.max(1))
            .flat_map(|m| pack_b(m, k as usize, n as usize, false))
            .collect::<Vec<f32>>()
    });
    // A runtime B is packed by a stage first when the product is big enough to repay
    // the copy (each packed element is then read by M / mr row panels).
    let b_mats = b_batch.iter().product::<u64>() as i64;
    let pack_at_run_time =
        !gpu && packed.is_none() && m >= MIN_ROWS_TO_PACK && k * n >= MIN_B_TO_PACK;
    let b = match &packed {
        Some(p) => cx.bind_constant("b_packed", p),
        None if pack_at_run_time => {
            let len = (b_mats * k * n) as u64;
            let mut st = cx.stage("pack_b");
            let src = cx.stage_input(&mut st, 1)?;
            let dst = st.scratch(0, ScalarType::F32, len, Access::Write);
            emit_pack_b(&mut st.b, (src, dst), (b_mats, k, n));
            cx.add_stage(st)?;
            cx.bind_scratch(0, ScalarType::F32, len)
        }
        None => cx.bind_input(1)?,
    };
    let packed = packed.is_some() || pack_at_run_time;
    let y = cx.bind_output(0)?;
    let yd = cx.dims(cx.output(0))?;
    let epi = match fused {
        Some(f) => Some(Epilogue::bind(cx, f, &yd, ScalarType::F32)?),
        None => None,
    };
    // Batch dims of extent 1 index nothing; the rest are flattened into `bi`.
    let batches: i64 = batch.iter().product::<u64>() as i64;
    let base = |bi: &Expr, strides: &[u64], mat: i64| -> Expr {
        let mut e = Expr::i64(0);
        let mut inner = 1i64;
        for (&d, &st) in batch.iter().zip(strides).rev() {
            if d != 1 && st != 0 {
                let i = (bi.clone() / Expr::i64(inner)) % Expr::i64(d as i64);
                e = e + i * Expr::i64(st as i64 * mat);
            }
            inner *= d as i64;
        }
        e
    };
    let a_at = |bi: &Expr, row: Expr, kk: Expr| base(bi, &sa, m * k) + row * Expr::i64(k) + kk;
    let b_row = |bi: &Expr, kk: Expr| base(bi, &sb, k * n) + kk * Expr::i64(n);
    let b_base = |bi: &Expr| base(bi, &sb, k * n);
    let b_layout = if packed {
        BLayout::Packed(&b_base)
    } else {
        BLayout::Rows(&b_row)
    };
    let c_row = |bi: &Expr, row: Expr| (bi.clone() * Expr::i64(m) + row) * Expr::i64(n);
    // Output coordinates of (bi, row, col). With both operands at least 2-D the output
    // ends in [.., M, N], so the last coordinate is `col` itself, which keeps the
    // epilogue's indexing affine in `col` (vectorizable).
    let last_is_col = ad.len() >= 2 && bd.len() >= 2;
    let coords = |bi: &Expr, row: Expr, col: Expr| {
        if last_is_col {
            let mut c = unflatten(&(bi.clone() * Expr::i64(m) + row), &yd[..yd.len() - 1]);
            c.push(col);
            c
        } else {
            unflatten(
                &((bi.clone() * Expr::i64(m) + row) * Expr::i64(n) + col),
                &yd,
            )
        }
    };
    let finish = |b: &mut KernelBuilder, bi: &Expr, row: Expr, col: Expr, v: Expr| match &epi {
        Some(e) => e.value(b, v, &coords(bi, row, col)),
        None => v,
    };
    TiledGemm {
        shape: TileShape::for_unit(cx.unit).with_mma(cx.mma_input()),
        batch: batches,
        m,
        n,
        k,
        a,
        a_at: &a_at,
        b,
        b_layout,
        c: y,
        c_layout: CLayout::Rows {
            row: &c_row,
            finish: epi.is_some().then_some(&finish as Finish<'_>),
        },
    }
    .emit(&mut cx.b);
    Ok(())
}

/// MatMul of other element types (f64, integers): a plain loop nest, parallel over the
/// output rows, accumulating in the element type (integers wrap, as onnxruntime's do).
fn matmul_scalar(
    cx: &mut Ctx<'_>,
    t: ScalarType,
    (batch, sa, sb): (&[u64], &[u64], &[u64]),
    (m, k, n): (i64, i64, i64),
) -> Result<(), LowerError> {
    let a = cx.bind_input(0)?;
    let b = cx.bind_input(1)?;
    let y = cx.bind_output(0)?;
    let bs = neoc_ir::shape::strides(batch);
    let batches: i64 = batch.iter().product::<u64>() as i64;
    let acc = cx.b.var("acc", t);
    cx.b.for_loop("r", 0, batches * m, LoopKind::Parallel, |kb, r| {
        let bi = r.clone() / Expr::i64(m);
        let i = r.clone() % Expr::i64(m);
        // Matrix offsets of this batch entry in A and B (broadcast strides).
        let mut a_mat = Expr::i64(0);
        let mut b_mat = Expr::i64(0);
        for (d, &st) in bs.iter().enumerate() {
            let coord = (bi.clone() / Expr::i64(st as i64)) % Expr::i64(batch[d] as i64);
            a_mat = a_mat + coord.clone() * Expr::i64(sa[d] as i64);
            b_mat = b_mat + coord * Expr::i64(sb[d] as i64);
        }
        let a_row = a_mat * Expr::i64(m * k) + i * Expr::i64(k);
        let b_base = b_mat * Expr::i64(k * n);
        kb.for_loop("j", 0, n, LoopKind::Serial, |kb, j| {
            kb.assign(acc, super::fconst(0.0, t));
            kb.for_loop("kk", 0, k, LoopKind::Serial, |kb, kk| {
                let av = Expr::load(a, a_row.clone() + kk.clone());
                let bv = Expr::load(b, b_base.clone() + kk * Expr::i64(n) + j.clone());
                kb.assign(acc, Expr::var(acc) + av * bv);
            });
            kb.store(y, r.clone() * Expr::i64(n) + j, Expr::var(acc));
        });
    });
    Ok(())
}
