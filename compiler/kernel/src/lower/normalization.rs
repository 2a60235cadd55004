//! BatchNormalization (inference) and Softmax / LogSoftmax.

use super::{fconst, Ctx, LowerError};
use crate::expr::{BinaryOp, Expr, UnaryOp};
use crate::gpu::rows::{self, Rows};
use crate::kernel::{BufId, LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::{BatchNorm, Softmax};

/// `y = (x - mean) * (scale / sqrt(var + eps)) + bias`, per channel. (When the
/// statistics are constants the passes fold this into a preceding Conv/Gemm instead.)
pub(super) fn batch_norm(cx: &mut Ctx<'_>, bn: &BatchNorm) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    if !t.is_float() {
        return cx.err("only float batch normalization is supported");
    }
    let x = cx.bind_input(0)?;
    let scale = cx.bind_input(1)?;
    let bias = cx.bind_input(2)?;
    let mean = cx.bind_input(3)?;
    let var = cx.bind_input(4)?;
    let y = cx.bind_output(0)?;
    let (n, c) = (xd[0] as i64, xd[1] as i64);
    let inner: i64 = xd[2..].iter().product::<u64>() as i64;
    let s = cx.b.var("s", t);
    let eps = f64::from(bn.epsilon);
    cx.b.for_loop("nc", 0, n * c, LoopKind::Parallel, |b, nc| {
        let ch = nc.clone() % Expr::i64(c);
        b.assign(
            s,
            Expr::load(scale, ch.clone()) / (Expr::load(var, ch.clone()) + fconst(eps, t)).sqrt(),
        );
        b.for_loop("i", 0, inner, LoopKind::Vectorize, |b, i| {
            let idx = nc.clone() * Expr::i64(inner) + i;
            let v = (Expr::load(x, idx.clone()) - Expr::load(mean, ch.clone())) * Expr::var(s)
                + Expr::load(bias, ch.clone());
            b.store(y, idx, v);
        });
    });
    Ok(())
}

/// Numerically stable softmax along one axis: subtract the max, exponentiate, divide
/// by the sum (log-softmax: `x - max - log(sum)`).
pub(super) fn softmax(cx: &mut Ctx<'_>, sm: &Softmax) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    let outer: i64 = xd[..sm.axis].iter().product::<u64>() as i64;
    let len = xd[sm.axis] as i64;
    let inner: i64 = xd[sm.axis + 1..].iter().product::<u64>() as i64;
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let mx = cx.b.var("max", t);
    let sum = cx.b.var("sum", t);
    let log = sm.log;
    if inner == 1 && rows::block_per_row(&cx.unit, len as u64, t) {
        softmax_block_rows(&mut cx.b, (x, y), (outer, len), log);
        return Ok(());
    }
    if inner == 1 && t == ScalarType::F32 && len >= i64::from(ROW_LANES) {
        softmax_rows(&mut cx.b, (x, y), (mx, sum), (outer, len), log);
        return Ok(());
    }
    cx.b.for_loop("o", 0, outer, LoopKind::Parallel, |b, o| {
        b.for_loop("in", 0, inner, LoopKind::Serial, |b, i| {
            let at = |a: Expr| (o.clone() * Expr::i64(len) + a) * Expr::i64(inner) + i.clone();
            b.assign(mx, fconst(f64::NEG_INFINITY, t));
            b.for_loop("a", 0, len, LoopKind::Serial, |b, a| {
                b.assign(mx, Expr::var(mx).max(Expr::load(x, at(a))));
            });
            b.assign(sum, fconst(0.0, t));
            b.for_loop("a", 0, len, LoopKind::Serial, |b, a| {
                let e = (Expr::load(x, at(a.clone())) - Expr::var(mx)).exp();
                if !log {
                    b.store(y, at(a), e.clone());
                }
                b.assign(sum, Expr::var(sum) + e);
            });
            if log {
                let lse = Expr::var(mx) + Expr::unary(UnaryOp::Log, Expr::var(sum));
                b.for_loop("a", 0, len, LoopKind::Vectorize, |b, a| {
                    b.store(y, at(a.clone()), Expr::load(x, at(a)) - lse.clone());
                });
            } else {
                b.assign(sum, fconst(1.0, t) / Expr::var(sum));
                b.for_loop("a", 0, len, LoopKind::Vectorize, |b, a| {
                    b.store(y, at(a.clone()), Expr::load(y, at(a)) * Expr::var(sum));
                });
            }
        });
    });
    Ok(())
}

/// Lanes of the partial max/sum vectors of [`softmax_rows`].
const ROW_LANES: u32 = 16;

/// Softmax over contiguous float32 rows: max and sum as 16 partial lanes (explicit
/// vectors, then a pairwise lane reduction) so that neither reduction is a serial
/// chain, and the exp pass as a plain vectorizable loop writing `y`.
fn softmax_rows(
    b: &mut KernelBuilder,
    (x, y): (BufId, BufId),
    (mx, sum): (VarId, VarId),
    (outer, len): (i64, i64),
    log: bool,
) {
    let f32t = ScalarType::F32;
    let chunks = len / i64::from(ROW_LANES);
    let tail = chunks * i64::from(ROW_LANES);
    let part = b.vector_var("part", f32t, ROW_LANES);
    b.for_loop("o", 0, outer, LoopKind::Parallel, |b, o| {
        let row = o * Expr::i64(len);
        // Lane-parallel reduction of `src[row + a]` by `op`, then the scalar tail.
        let reduce = |b: &mut KernelBuilder, op: BinaryOp, src: BufId, init: f64, into: VarId| {
            b.assign(part, Expr::splat(Expr::f32(init as f32), ROW_LANES));
            b.for_loop("c", 0, chunks, LoopKind::Serial, |b, c| {
                let v = Expr::vload(
                    src,
                    row.clone() + c * Expr::i64(i64::from(ROW_LANES)),
                    ROW_LANES,
                );
                b.assign(part, Expr::binary(op, Expr::var(part), v));
            });
            b.assign(into, Expr::lane_reduce(op, Expr::var(part)));
            b.for_loop("a", tail, len, LoopKind::Serial, |b, a| {
                let v = Expr::load(src, row.clone() + a);
                b.assign(into, Expr::binary(op, Expr::var(into), v));
            });
        };
        reduce(b, BinaryOp::Max, x, f64::NEG_INFINITY, mx);
        b.for_loop("a", 0, len, LoopKind::Vectorize, |b, a| {
            let at = row.clone() + a;
            b.store(y, at.clone(), (Expr::load(x, at) - Expr::var(mx)).exp());
        });
        reduce(b, BinaryOp::Add, y, 0.0, sum);
        if log {
            let lse = Expr::var(mx) + Expr::unary(UnaryOp::Log, Expr::var(sum));
            b.for_loop("a", 0, len, LoopKind::Vectorize, |b, a| {
                let at = row.clone() + a;
                b.store(y, at.clone(), Expr::load(x, at) - lse.clone());
            });
        } else {
            b.assign(sum, Expr::f32(1.0) / Expr::var(sum));
            b.for_loop("a", 0, len, LoopKind::Vectorize, |b, a| {
                let at = row.clone() + a;
                b.store(y, at.clone(), Expr::load(y, at) * Expr::var(sum));
            });
        }
    });
}

/// Softmax on a GPU: one block per row, the max and the sum reduced across the block
/// (`gpu::rows`); each thread exponentiates and scales its own elements, kept in
/// registers between the passes when its share of the row fits (one read of `x`, one
/// write of `y`).
fn softmax_block_rows(
    b: &mut KernelBuilder,
    (x, y): (BufId, BufId),
    (outer, len): (i64, i64),
    log: bool,
) {
    let f32t = ScalarType::F32;
    let r = Rows::start(b, outer as u64, len as u64);
    let at = |i: Expr| r.row() * Expr::i64(len) + i;
    let mx = b.let_var("max", f32t, Expr::f32(f32::NEG_INFINITY));
    let sum = b.var("sum", f32t);
    if r.fits_registers() {
        let vals: Vec<VarId> = (0..r.per_thread()).map(|_| b.var("x", f32t)).collect();
        r.each_unrolled(b, |b, j, i| {
            b.assign(vals[j], Expr::load(x, at(i)));
            b.assign(mx, Expr::var(mx).max(Expr::var(vals[j])));
        });
        r.all_reduce(b, BinaryOp::Max, mx);
        b.assign(sum, Expr::f32(0.0));
        r.each_unrolled(b, |b, j, _| {
            let e = (Expr::var(vals[j]) - Expr::var(mx)).exp();
            if log {
                b.assign(sum, Expr::var(sum) + e);
            } else {
                b.assign(vals[j], e);
                b.assign(sum, Expr::var(sum) + Expr::var(vals[j]));
            }
        });
        r.all_reduce(b, BinaryOp::Add, sum);
        let scale = if log {
            Expr::var(mx) + Expr::unary(UnaryOp::Log, Expr::var(sum))
        } else {
            Expr::f32(1.0) / Expr::var(sum)
        };
        b.assign(sum, scale);
        r.each_unrolled(b, |b, j, i| {
            let v = if log {
                Expr::var(vals[j]) - Expr::var(sum)
            } else {
                Expr::var(vals[j]) * Expr::var(sum)
            };
            b.store(y, at(i), v);
        });
        return;
    }
    r.each(b, |b, i| {
        b.assign(mx, Expr::var(mx).max(Expr::load(x, at(i))))
    });
    r.all_reduce(b, BinaryOp::Max, mx);
    b.assign(sum, Expr::f32(0.0));
    r.each(b, |b, i| {
        let e = (Expr::load(x, at(i.clone())) - Expr::var(mx)).exp();
        if log {
            b.assign(sum, Expr::var(sum) + e);
        } else {
            let v = b.let_var("e", f32t, e);
            b.store(y, at(i), Expr::var(v));
            b.assign(sum, Expr::var(sum) + Expr::var(v));
        }
    });
    r.all_reduce(b, BinaryOp::Add, sum);
    if log {
        let lse = Expr::var(mx) + Expr::unary(UnaryOp::Log, Expr::var(sum));
        r.each(b, |b, i| {
            b.store(y, at(i.clone()), Expr::load(x, at(i)) - lse);
        });
    } else {
        b.assign(sum, Expr::f32(1.0) / Expr::var(sum));
        r.each(b, |b, i| {
            b.store(y, at(i.clone()), Expr::load(y, at(i)) * Expr::var(sum));
        });
    }
}

/// Layer normalization, one row (the trailing dims from `axis`) at a time: mean, then
/// variance around it (two passes: no cancellation), then the affine output.
pub(super) fn layer_norm(cx: &mut Ctx<'_>, ln: &neoc_ir::ops::LayerNorm) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    if !t.is_float() {
        return cx.err("only float layer normalization is supported");
    }
    let inner_dims = xd[ln.axis..].to_vec();
    let outer: i64 = xd[..ln.axis].iter().product::<u64>() as i64;
    let inner: i64 = inner_dims.iter().product::<u64>() as i64;
    let x = cx.bind_input(0)?;
    let mut params = Vec::new();
    for i in 1..3 {
        if let Some(v) = cx.input(i) {
            let s = super::elementwise::broadcast_strides(&cx.dims(v)?, &inner_dims);
            params.push(Some((cx.bind_input(i)?, s)));
        } else {
            params.push(None);
        }
    }
    let y = cx.bind_output(0)?;
    let mean = cx.b.var("mean", t);
    let var = cx.b.var("var", t);
    let d = cx.b.var("d", t);
    let n = fconst(inner as f64, t);
    let eps = fconst(f64::from(ln.epsilon), t);
    let inner_coords = |i: &Expr| super::fused::unflatten(i, &inner_dims);
    // `v * scale[i] + bias[i]` for element `i` of a row.
    let affine = |i: &Expr, mut v: Expr| {
        for (k, p) in params.iter().enumerate() {
            let Some((buf, s)) = p else { continue };
            let idx = if s.iter().all(|&st| st == 0) {
                Expr::i64(0)
            } else if inner_dims.len() == 1 || s == &neoc_ir::shape::strides(&inner_dims) {
                i.clone()
            } else {
                super::elementwise::strided_index(&inner_coords(i), s)
            };
            let pv = Expr::load(*buf, idx);
            v = if k == 0 { v * pv } else { v + pv };
        }
        v
    };
    if rows::block_per_row(&cx.unit, inner as u64, t) {
        let b = &mut cx.b;
        let r = Rows::start(b, outer as u64, inner as u64);
        let at = |i: Expr| r.row() * Expr::i64(inner) + i;
        b.assign(mean, fconst(0.0, t));
        if r.fits_registers() {
            // This thread's elements stay in registers: x is read once.
            let vals: Vec<VarId> = (0..r.per_thread()).map(|_| b.var("x", t)).collect();
            r.each_unrolled(b, |b, j, i| {
                b.assign(vals[j], Expr::load(x, at(i)));
                b.assign(mean, Expr::var(mean) + Expr::var(vals[j]));
            });
            r.all_reduce(b, BinaryOp::Add, mean);
            b.assign(mean, Expr::var(mean) / n.clone());
            b.assign(var, fconst(0.0, t));
            r.each_unrolled(b, |b, j, _| {
                b.assign(d, Expr::var(vals[j]) - Expr::var(mean));
                b.assign(var, Expr::fma(Expr::var(d), Expr::var(d), Expr::var(var)));
            });
            r.all_reduce(b, BinaryOp::Add, var);
            b.assign(var, fconst(1.0, t) / (Expr::var(var) / n + eps).sqrt());
            r.each_unrolled(b, |b, j, i| {
                let v = (Expr::var(vals[j]) - Expr::var(mean)) * Expr::var(var);
                b.store(y, at(i.clone()), affine(&i, v));
            });
            return Ok(());
        }
        r.each(b, |b, i| {
            b.assign(mean, Expr::var(mean) + Expr::load(x, at(i)))
        });
        r.all_reduce(b, BinaryOp::Add, mean);
        b.assign(mean, Expr::var(mean) / n.clone());
        b.assign(var, fconst(0.0, t));
        r.each(b, |b, i| {
            b.assign(d, Expr::load(x, at(i)) - Expr::var(mean));
            b.assign(var, Expr::fma(Expr::var(d), Expr::var(d), Expr::var(var)));
        });
        r.all_reduce(b, BinaryOp::Add, var);
        b.assign(var, fconst(1.0, t) / (Expr::var(var) / n + eps).sqrt());
        r.each(b, |b, i| {
            let v = (Expr::load(x, at(i.clone())) - Expr::var(mean)) * Expr::var(var);
            b.store(y, at(i.clone()), affine(&i, v));
        });
        return Ok(());
    }
    cx.b.for_loop("o", 0, outer, LoopKind::Parallel, |b, o| {
        let at = |i: Expr| o.clone() * Expr::i64(inner) + i;
        b.assign(mean, fconst(0.0, t));
        b.for_loop("i", 0, inner, LoopKind::Serial, |b, i| {
            b.assign(mean, Expr::var(mean) + Expr::load(x, at(i)));
        });
        b.assign(mean, Expr::var(mean) / n.clone());
        b.assign(var, fconst(0.0, t));
        b.for_loop("i", 0, inner, LoopKind::Serial, |b, i| {
            b.assign(d, Expr::load(x, at(i)) - Expr::var(mean));
            b.assign(var, Expr::fma(Expr::var(d), Expr::var(d), Expr::var(var)));
        });
        b.assign(
            var,
            fconst(1.0, t) / (Expr::var(var) / n.clone() + eps.clone()).sqrt(),
        );
        b.for_loop("i", 0, inner, LoopKind::Vectorize, |b, i| {
            let v = (Expr::load(x, at(i.clone())) - Expr::var(mean)) * Expr::var(var);
            b.store(y, at(i.clone()), affine(&i, v));
        });
    });
    Ok(())
}

/// Local response normalization: the output first accumulates the squares of the
/// window's channels (one contiguous, vectorizable pass per channel of the window), then
/// becomes `x / (bias + alpha/size · sum)^beta` in place.
pub(super) fn lrn(cx: &mut Ctx<'_>, l: &neoc_ir::ops::Lrn) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    if t != ScalarType::F32 {
        return cx.err("only float32 LRN is supported");
    }
    let (n, c) = (xd[0] as i64, xd[1] as i64);
    let inner: i64 = xd[2..].iter().product::<u64>() as i64;
    let (before, after) = l.window();
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let scale = l.alpha / l.size as f32;
    let (bias, beta) = (l.bias, l.beta);
    cx.b.for_loop("nc", 0, n * c, LoopKind::Parallel, |b, nc| {
        let ch = nc.clone() % Expr::i64(c);
        let img_base = (nc.clone() - ch.clone()) * Expr::i64(inner);
        let out = nc * Expr::i64(inner);
        b.for_loop("s", 0, inner, LoopKind::Vectorize, |b, s| {
            b.store(y, out.clone() + s, Expr::f32(0.0));
        });
        let lo = (ch.clone() - Expr::i64(before as i64)).max(Expr::i64(0));
        let hi = (ch.clone() + Expr::i64(after as i64 + 1)).min(Expr::i64(c));
        b.for_loop("k", lo, hi, LoopKind::Serial, |b, k| {
            let src = img_base.clone() + k * Expr::i64(inner);
            b.for_loop("s", 0, inner, LoopKind::Vectorize, |b, s| {
                let v = Expr::load(x, src.clone() + s.clone());
                let at = out.clone() + s;
                b.store(y, at.clone(), Expr::fma(v.clone(), v, Expr::load(y, at)));
            });
        });
        b.for_loop("s", 0, inner, LoopKind::Vectorize, |b, s| {
            let at = out.clone() + s;
            let d = Expr::f32(bias) + Expr::f32(scale) * Expr::load(y, at.clone());
            let d = Expr::binary(BinaryOp::Pow, d, Expr::f32(beta));
            b.store(y, at.clone(), Expr::load(x, at) / d);
        });
    });
    Ok(())
}
