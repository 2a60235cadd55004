//! DynamicQuantizeLinear (`neoc_ir::ops::dynamic_quantize`) as one kernel.
//!
//! First the range of `x`: partial minima and maxima in `PARTS` vectors of 16 lanes
//! each (they start at 0, which widens the range to contain 0 as the op requires):
//! independent chains, since the IR's float `min`/`max` (IEEE `minimum`/`maximum`,
//! NaN-propagating, −0 below +0) take six dependent instructions a step on AVX-512.
//! Then the vectors combined, a lane reduction and the scalar tail. Then the scale and zero
//! point in f32, the same operations in the same order as the reference (and
//! onnxruntime). Then one vectorized pass `clamp(round_half_even(x / scale) + zero, 0,
//! 255)` to u8: a division, not a multiplication by `1 / scale`, which would round
//! differently. Serial: both passes over an encoder's activation (16–64 K values) take
//! microseconds, and the range must be complete before any value is quantized.

use super::{Ctx, LowerError};
use crate::expr::{BinaryOp, CmpOp, Expr, UnaryOp};
use crate::kernel::{LoopKind, ScalarType};

/// Lanes of the partial minimum and maximum vectors.
const LANES: u32 = 16;
/// Independent partial vectors of each (hides the min/max latency).
const PARTS: usize = 4;

/// The running minimum (`lower`) or maximum `acc` updated with `v`.
fn extreme(acc: Expr, v: Expr, lower: bool) -> Expr {
    if lower {
        acc.min(v)
    } else {
        acc.max(v)
    }
}

pub(super) fn dynamic_quantize(cx: &mut Ctx<'_>) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    if cx.scalar_type(vx)? != ScalarType::F32 {
        return cx.err("DynamicQuantizeLinear takes float32");
    }
    let len = cx.dims(vx)?.iter().product::<u64>() as i64;
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let scale_out = cx.bind_output(1)?;
    let zero_out = cx.bind_output(2)?;
    let f32t = ScalarType::F32;
    let b = &mut cx.b;
    let parts = |b: &mut crate::builder::KernelBuilder, name: &str| -> Vec<_> {
        (0..PARTS)
            .map(|p| b.vector_var(format!("{name}{p}"), f32t, LANES))
            .collect()
    };
    let (lo_part, hi_part) = (parts(b, "lo_part"), parts(b, "hi_part"));
    let (lo, hi) = (b.var("lo", f32t), b.var("hi", f32t));
    let (scale, zero) = (b.var("scale", f32t), b.var("zero", f32t));
    let step = i64::from(LANES) * PARTS as i64;
    let chunks = len / step;
    for &v in lo_part.iter().chain(&hi_part) {
        b.assign(v, Expr::splat(Expr::f32(0.0), LANES));
    }
    b.for_loop("c", 0, chunks, LoopKind::Serial, |b, c| {
        for (p, (&l, &h)) in lo_part.iter().zip(&hi_part).enumerate() {
            let at = c.clone() * Expr::i64(step) + Expr::i64(p as i64 * i64::from(LANES));
            let v = Expr::vload(x, at, LANES);
            b.assign(l, extreme(Expr::var(l), v.clone(), true));
            b.assign(h, extreme(Expr::var(h), v, false));
        }
    });
    for p in 1..PARTS {
        b.assign(
            lo_part[0],
            extreme(Expr::var(lo_part[0]), Expr::var(lo_part[p]), true),
        );
        b.assign(
            hi_part[0],
            extreme(Expr::var(hi_part[0]), Expr::var(hi_part[p]), false),
        );
    }
    b.assign(lo, Expr::lane_reduce(BinaryOp::Min, Expr::var(lo_part[0])));
    b.assign(hi, Expr::lane_reduce(BinaryOp::Max, Expr::var(hi_part[0])));
    b.for_loop("i", chunks * step, len, LoopKind::Serial, |b, i| {
        let v = Expr::load(x, i);
        b.assign(lo, extreme(Expr::var(lo), v.clone(), true));
        b.assign(hi, extreme(Expr::var(hi), v, false));
    });
    // scale = (hi − lo) / 255 (1 when hi = lo); zero = round(clamp(0 − lo / scale, 0, 255)).
    let flat = Expr::cmp(CmpOp::Eq, Expr::var(hi), Expr::var(lo));
    let range = (Expr::var(hi) - Expr::var(lo)) / Expr::f32(255.0);
    b.assign(scale, Expr::select(flat, Expr::f32(1.0), range));
    let z = Expr::f32(0.0) - Expr::var(lo) / Expr::var(scale);
    let z = z.max(Expr::f32(0.0)).min(Expr::f32(255.0));
    b.assign(zero, Expr::unary(UnaryOp::Round, z));
    b.store(scale_out, Expr::i64(0), Expr::var(scale));
    b.store(
        zero_out,
        Expr::i64(0),
        Expr::cast(ScalarType::U8, Expr::var(zero)),
    );
    b.for_loop("i", 0, len, LoopKind::Vectorize, |b, i| {
        let q = Expr::unary(UnaryOp::Round, Expr::load(x, i.clone()) / Expr::var(scale));
        let q = (q + Expr::var(zero))
            .max(Expr::f32(0.0))
            .min(Expr::f32(255.0));
        b.store(y, i, Expr::cast(ScalarType::U8, q));
    });
    Ok(())
}
