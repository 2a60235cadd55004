//! Elementwise families: unary functions, broadcasting binary functions, casts.
//!
//! Loops run over the output; broadcast operands are read through zero strides, and
//! adjacent dimensions that are contiguous for every operand are merged first, so the
//! common cases (same shape, per-channel bias, scalar) become one or two loops with a
//! contiguous, vectorizable innermost loop.

use super::{fconst, Ctx, LowerError};
use crate::builder::KernelBuilder;
use crate::expr::{BinaryOp as KB, CmpOp, Expr, UnaryOp as KU};
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::elementwise::TrigFn;
use neoc_ir::ops::{BinaryOp, UnaryOp};
use neoc_ir::shape::strides;

/// The scalar expression of a graph unary op applied to `x` of type `t`.
pub(crate) fn unary_expr(op: &UnaryOp, x: Expr, t: ScalarType) -> Expr {
    let c = |v: f64| fconst(v, t);
    match *op {
        UnaryOp::Relu => Expr::select(x.clone().lt(c(0.0)), c(0.0), x),
        UnaryOp::LeakyRelu { alpha } => {
            Expr::select(x.clone().lt(c(0.0)), c(f64::from(alpha)) * x.clone(), x)
        }
        UnaryOp::Sigmoid => c(1.0) / (c(1.0) + (-x).exp()),
        UnaryOp::HardSigmoid { alpha, beta } => (c(f64::from(alpha)) * x + c(f64::from(beta)))
            .min(c(1.0))
            .max(c(0.0)),
        UnaryOp::HardSwish => x.clone() * (x * c(1.0 / 6.0) + c(0.5)).min(c(1.0)).max(c(0.0)),
        UnaryOp::Elu { alpha } => Expr::select(
            x.clone().lt(c(0.0)),
            c(f64::from(alpha)) * (x.clone().exp() - c(1.0)),
            x,
        ),
        UnaryOp::Tanh => Expr::unary(KU::Tanh, x),
        UnaryOp::Clip { min, max } => {
            let mut e = x;
            if min.is_finite() || (min == f32::INFINITY) {
                e = e.max(c(f64::from(min)));
            }
            if max.is_finite() || (max == f32::NEG_INFINITY) {
                e = e.min(c(f64::from(max)));
            }
            e
        }
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => Expr::unary(KU::Log, x),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Reciprocal => c(1.0) / x,
        UnaryOp::Abs => Expr::unary(KU::Abs, x),
        UnaryOp::Neg => -x,
        UnaryOp::Erf => Expr::unary(KU::Erf, x),
        UnaryOp::Floor => Expr::unary(KU::Floor, x),
        UnaryOp::Ceil => Expr::unary(KU::Ceil, x),
        UnaryOp::Round => Expr::unary(KU::Round, x),
        UnaryOp::BitNot => Expr::unary(KU::Not, x),
        // log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), which never overflows.
        UnaryOp::Gelu { tanh: false } => {
            c(0.5)
                * x.clone()
                * (c(1.0) + Expr::unary(KU::Erf, x * c(std::f64::consts::FRAC_1_SQRT_2)))
        }
        UnaryOp::Gelu { tanh: true } => {
            let k = c((2.0 / std::f64::consts::PI).sqrt());
            let inner = k * (x.clone() + c(0.044715) * x.clone() * x.clone() * x.clone());
            c(0.5) * x * (c(1.0) + Expr::unary(KU::Tanh, inner))
        }
        UnaryOp::Softplus => {
            x.clone().max(c(0.0)) + Expr::unary(KU::Log, c(1.0) + (-Expr::unary(KU::Abs, x)).exp())
        }
        UnaryOp::Trig(f) => trig_expr(f, x, t),
    }
}

/// Trigonometric and hyperbolic functions from the kernel IR's sin, cos, atan, exp,
/// log and sqrt.
fn trig_expr(f: TrigFn, x: Expr, t: ScalarType) -> Expr {
    let c = |v: f64| fconst(v, t);
    let log = |e: Expr| Expr::unary(KU::Log, e);
    let atan = |e: Expr| Expr::unary(KU::Atan, e);
    match f {
        TrigFn::Sin => Expr::unary(KU::Sin, x),
        TrigFn::Cos => Expr::unary(KU::Cos, x),
        TrigFn::Tan => Expr::unary(KU::Sin, x.clone()) / Expr::unary(KU::Cos, x),
        // asin x = atan(x / √(1 − x²)); ±1 → atan(±inf) = ±π/2, |x| > 1 → NaN.
        TrigFn::Asin => atan(x.clone() / (c(1.0) - x.clone() * x).sqrt()),
        // acos x = 2·atan(√((1 − x)/(1 + x))), accurate near 1; −1 → π.
        TrigFn::Acos => c(2.0) * atan(((c(1.0) - x.clone()) / (c(1.0) + x)).sqrt()),
        TrigFn::Atan => atan(x),
        // Small |x|: the odd Taylor series (no cancellation); else (eˣ − e⁻ˣ)/2.
        TrigFn::Sinh => {
            let x2 = x.clone() * x.clone();
            let series = x.clone()
                * (c(1.0)
                    + x2.clone()
                        * (c(1.0 / 6.0) + x2.clone() * (c(1.0 / 120.0) + x2 * c(1.0 / 5040.0))));
            let big = (x.clone().exp() - (-x.clone()).exp()) * c(0.5);
            Expr::select(Expr::unary(KU::Abs, x).lt(c(0.5)), series, big)
        }
        TrigFn::Cosh => (x.clone().exp() + (-x).exp()) * c(0.5),
        // asinh x = sign(x)·log(|x| + √(x² + 1)).
        TrigFn::Asinh => {
            let a = Expr::unary(KU::Abs, x.clone());
            let v = log(a.clone() + (a.clone() * a + c(1.0)).sqrt());
            Expr::select(x.lt(c(0.0)), -v.clone(), v)
        }
        TrigFn::Acosh => log(x.clone() + (x.clone() * x - c(1.0)).sqrt()),
        TrigFn::Atanh => c(0.5) * log((c(1.0) + x.clone()) / (c(1.0) - x)),
    }
}

/// The scalar expression of a graph binary op on operands of type `t`.
pub(crate) fn binary_expr(op: BinaryOp, a: Expr, b: Expr, t: ScalarType) -> Expr {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => Expr::binary(KB::Pow, a, b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Equal => Expr::cmp(CmpOp::Eq, a, b),
        BinaryOp::Less => Expr::cmp(CmpOp::Lt, a, b),
        BinaryOp::Greater => Expr::cmp(CmpOp::Gt, a, b),
        BinaryOp::Fmod => Expr::binary(KB::Rem, a, b),
        BinaryOp::BitAnd => Expr::binary(KB::And, a, b),
        BinaryOp::BitOr => Expr::binary(KB::Or, a, b),
        BinaryOp::BitXor => Expr::binary(KB::Xor, a, b),
        BinaryOp::ShiftLeft => Expr::binary(KB::Shl, a, b),
        BinaryOp::ShiftRight => Expr::binary(KB::Shr, a, b),
        // Python's `%`: the C remainder, plus the divisor when it is nonzero and the
        // signs differ.
        BinaryOp::Mod => {
            let r = Expr::binary(KB::Rem, a, b.clone());
            let zero = fconst(0.0, t);
            let differ = Expr::binary(
                KB::Or,
                r.clone().lt(zero.clone()).and(zero.clone().lt(b.clone())),
                zero.clone().lt(r.clone()).and(b.clone().lt(zero)),
            );
            Expr::select(differ, r.clone() + b, r)
        }
    }
}

pub(super) fn unary(cx: &mut Ctx<'_>, op: &UnaryOp) -> Result<(), LowerError> {
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let t = cx.scalar_type(cx.output(0))?;
    let n: u64 = cx.dims(cx.output(0))?.iter().product();
    broadcast_loops(&mut cx.b, &[n], &[vec![1], vec![1]], |b, idx| {
        let v = unary_expr(op, Expr::load(x, idx[0].clone()), t);
        b.store(y, idx[1].clone(), v);
    });
    Ok(())
}

pub(super) fn cast(cx: &mut Ctx<'_>) -> Result<(), LowerError> {
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let t = cx.scalar_type(cx.output(0))?;
    let from = cx.graph.value(cx.operand(0)?).ty.dtype;
    let to = cx.graph.value(cx.output(0)).ty.dtype;
    let n: u64 = cx.dims(cx.output(0))?.iter().product();
    broadcast_loops(&mut cx.b, &[n], &[vec![1], vec![1]], |b, idx| {
        let v = Expr::load(x, idx[0].clone());
        b.store(
            y,
            idx[1].clone(),
            super::number_format::convert(from, to, v, t),
        );
    });
    Ok(())
}

pub(super) fn binary(cx: &mut Ctx<'_>, op: BinaryOp) -> Result<(), LowerError> {
    let (Some(va), Some(vb)) = (cx.input(0), cx.input(1)) else {
        return cx.err("missing operand");
    };
    let (ad, bd, od) = (cx.dims(va)?, cx.dims(vb)?, cx.dims(cx.output(0))?);
    let t = cx.scalar_type(va)?;
    let tb = cx.scalar_type(vb)?;
    let a = cx.bind_input(0)?;
    let b = cx.bind_input(1)?;
    let y = cx.bind_output(0)?;
    let sa = broadcast_strides(&ad, &od);
    let sb = broadcast_strides(&bd, &od);
    let (dims, st) = collapse(&od, &[sa, sb]);
    broadcast_loops(&mut cx.b, &dims, &st, |kb, idx| {
        let (x, e) = (Expr::load(a, idx[0].clone()), Expr::load(b, idx[1].clone()));
        let v = if op == BinaryOp::Pow && (t != tb || !t.is_float()) {
            mixed_pow(x, e, (t, tb))
        } else {
            binary_expr(op, x, e, t)
        };
        kb.store(y, idx[2].clone(), v);
    });
    Ok(())
}

/// ONNX Pow with a base and exponent of different types, or integer ones: computed in
/// f64 and converted to the base's type (integer results rounded first, so exact powers
/// stay exact despite `pow`'s last-ulp error).
fn mixed_pow(x: Expr, e: Expr, (t, te): (ScalarType, ScalarType)) -> Expr {
    let f64t = ScalarType::F64;
    let wide = |v: Expr, from: ScalarType| if from == f64t { v } else { Expr::cast(f64t, v) };
    let p = Expr::binary(KB::Pow, wide(x, t), wide(e, te));
    match t {
        ScalarType::F64 => p,
        t if t.is_float() => Expr::cast(t, p),
        t => Expr::cast(t, Expr::unary(crate::expr::UnaryOp::Round, p)),
    }
}

/// Element strides of an operand of shape `src` read while iterating over `out`:
/// right-aligned, zero where the operand is broadcast.
pub(crate) fn broadcast_strides(src: &[u64], out: &[u64]) -> Vec<u64> {
    let s = strides(src);
    let off = out.len() - src.len();
    (0..out.len())
        .map(|i| {
            if i < off || src[i - off] == 1 {
                0
            } else {
                s[i - off]
            }
        })
        .collect()
}

/// Merges adjacent dims where every operand's strides are contiguous across them.
/// The output's own (row-major) strides are appended as the last operand.
pub(crate) fn collapse(out: &[u64], operands: &[Vec<u64>]) -> (Vec<u64>, Vec<Vec<u64>>) {
    let mut all: Vec<Vec<u64>> = operands.to_vec();
    all.push(strides(out));
    let mut dims: Vec<u64> = Vec::new();
    let mut st: Vec<Vec<u64>> = vec![Vec::new(); all.len()];
    for i in 0..out.len() {
        if out[i] == 1 {
            continue;
        }
        let mergeable = !dims.is_empty()
            && all.iter().enumerate().all(|(k, s)| {
                let prev = *st[k].last().unwrap_or(&0);
                prev == s[i] * out[i]
            });
        if mergeable {
            if let Some(d) = dims.last_mut() {
                *d *= out[i];
            }
            for (k, s) in all.iter().enumerate() {
                if let Some(p) = st[k].last_mut() {
                    *p = s[i];
                }
            }
        } else {
            dims.push(out[i]);
            for (k, s) in all.iter().enumerate() {
                st[k].push(s[i]);
            }
        }
    }
    (dims, st)
}

/// Loops over `dims` (innermost vectorized, outermost parallel) and hands the body one
/// flat index per operand, computed from that operand's strides. Every iteration writes
/// its own output elements, which makes the parallel split sound.
pub(crate) fn broadcast_loops(
    b: &mut KernelBuilder,
    dims: &[u64],
    strides: &[Vec<u64>],
    body: impl FnOnce(&mut KernelBuilder, &[Expr]),
) {
    let index =
        |iv: &[Expr]| -> Vec<Expr> { strides.iter().map(|s| strided_index(iv, s)).collect() };
    if let [n] = dims {
        // One long run: chunks of it are the parallel tasks' units of work.
        let n = *n as i64;
        if n >= 2 * PARALLEL_CHUNK {
            let chunks = (n + PARALLEL_CHUNK - 1) / PARALLEL_CHUNK;
            b.for_loop("c", 0, chunks, LoopKind::Parallel, |b, c| {
                let lo = c * Expr::i64(PARALLEL_CHUNK);
                let hi = (lo.clone() + Expr::i64(PARALLEL_CHUNK)).min(Expr::i64(n));
                b.for_loop("i", lo, hi, LoopKind::Vectorize, |b, i| {
                    let idx = index(&[i]);
                    body(b, &idx);
                });
            });
            return;
        }
    }
    // The outermost of several dims is split between parallel tasks (iterations write
    // disjoint parts of the output); the innermost is vectorized.
    let mut kinds = vec![LoopKind::Serial; dims.len()];
    if dims.len() >= 2 {
        kinds[0] = LoopKind::Parallel;
    }
    if let Some(k) = kinds.last_mut() {
        *k = LoopKind::Vectorize;
    }
    b.loop_nest("i", dims, &kinds, |b, iv| {
        let idx = index(iv);
        body(b, &idx);
    });
}

/// Elements per parallel task unit of a flat elementwise loop.
const PARALLEL_CHUNK: i64 = 4096;

/// `sum(iv[k] * strides[k])`, skipping zero strides.
pub(crate) fn strided_index(iv: &[Expr], strides: &[u64]) -> Expr {
    let mut acc: Option<Expr> = None;
    for (i, &s) in iv.iter().zip(strides) {
        if s == 0 {
            continue;
        }
        let t = if s == 1 {
            i.clone()
        } else {
            i.clone() * Expr::i64(s as i64)
        };
        acc = Some(match acc {
            None => t,
            Some(a) => a + t,
        });
    }
    acc.unwrap_or(Expr::i64(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_merges_contiguous_dims() {
        // [2,3,5,7] + [5,1] -> a: full, b: broadcast over 0,1 and 3
        let out = [2, 3, 5, 7];
        let sa = broadcast_strides(&out, &out);
        let sb = broadcast_strides(&[5, 1], &out);
        let (dims, st) = collapse(&out, &[sa, sb]);
        assert_eq!(dims, vec![6, 5, 7]);
        assert_eq!(st[1], vec![0, 1, 0]);
        let (dims, _) = collapse(&out, &[broadcast_strides(&out, &out)]);
        assert_eq!(dims, vec![210]);
    }
}
