//! Max pooling of u8 tensors (the `int8-qdq` pass turns `Q(MaxPool(DQ(x)))` with equal
//! quantization parameters into a MaxPool of `x` itself, as onnxruntime runs it).
//!
//! Two stages: the int8 GEMM's pad stage copies `x` bordered with 0 (the smallest u8,
//! so a padding tap never wins: every window holds a real tap, which the pass checks),
//! then each output row takes the byte maximum of its window's rows with plain affine
//! loads, vectorized along the row (`vpmaxub`). The generic pooling kernel tests every
//! tap against the image borders and stays scalar.

use super::conv::Geometry;
use super::int8_pad::{pad_stage, padded_extent, padded_len};
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::{Pool, PoolKind};

pub(super) fn max_pool_u8(cx: &mut Ctx<'_>, p: &Pool) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let (xd, yd) = (cx.dims(vx)?, cx.dims(cx.output(0))?);
    if p.kind != PoolKind::Max || cx.scalar_type(vx)? != ScalarType::U8 {
        return cx.err("integer pooling: only MaxPool of u8 tensors is supported");
    }
    let geo = Geometry::new(
        &xd[2..],
        &yd[2..],
        &p.kernel,
        &p.strides,
        &p.pads,
        &p.dilations,
    );
    let Some(geo) = geo.filter(every_window_inside) else {
        return cx.err("u8 MaxPool needs 1-D/2-D windows that each hold a tap of the image");
    };
    let planes = (xd[0] * xd[1]) as i64;
    let (hp, wp) = padded_extent(&geo);
    let zero = Expr::IConst(0, ScalarType::I32);
    pad_stage(cx, &geo, (planes, hp, wp), (&zero, false), None)?;
    let src = cx.bind_scratch(2, ScalarType::U8, padded_len(planes, hp, wp));
    let y = cx.bind_output(0)?;
    let b = &mut cx.b;
    b.for_loop("pl", 0, planes, LoopKind::Parallel, |b, pl| {
        let plane = pl.clone() * Expr::i64(hp * wp);
        let out = pl * Expr::i64(geo.oh * geo.ow);
        b.for_loop("oy", 0, geo.oh, LoopKind::Serial, |b, oy| {
            let top = plane.clone() + oy.clone() * Expr::i64(geo.sh * wp);
            let dst = out.clone() + oy * Expr::i64(geo.ow);
            b.for_loop("ox", 0, geo.ow, LoopKind::Vectorize, |b, ox| {
                let left = top.clone() + ox.clone() * Expr::i64(geo.sw);
                let mut m: Option<Expr> = None;
                for ky in 0..geo.kh {
                    for kx in 0..geo.kw {
                        let at = left.clone() + Expr::i64(ky * geo.dh * wp + kx * geo.dw);
                        let v = Expr::load(src, at);
                        m = Some(match m {
                            None => v,
                            Some(m) => m.max(v),
                        });
                    }
                }
                if let Some(m) = m {
                    b.store(y, dst.clone() + ox, m);
                }
            });
        });
    });
    Ok(())
}

/// Whether every window holds at least one tap of the image (so that a 0 border is
/// never the maximum of a window of real values): dilation 1, begin pads smaller than
/// the window, and the last window starting inside the image.
fn every_window_inside(g: &Geometry) -> bool {
    (g.dh, g.dw) == (1, 1)
        && g.ph < g.kh
        && g.pw < g.kw
        && (g.oh - 1) * g.sh - g.ph < g.h
        && (g.ow - 1) * g.sw - g.pw < g.w
}
