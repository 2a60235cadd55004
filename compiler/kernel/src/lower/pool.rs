//! Pooling: windowed max/average (1-D and 2-D) and global max/average.
//!
//! Windowed pooling visits each output position and its window; taps outside the image
//! are skipped (max) or excluded from the count (average without `count_include_pad`).
//! With `count_include_pad`, the divisor counts window taps inside the padded extent
//! `[-pad_begin, size + pad_end)`, which is what onnxruntime divides by.

use super::conv::Geometry;
use super::{fconst, Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::{GlobalPool, Pool, PoolKind};

pub(super) fn pool(cx: &mut Ctx<'_>, p: &Pool) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let (xd, yd) = (cx.dims(vx)?, cx.dims(cx.output(0))?);
    let t = cx.scalar_type(vx)?;
    if !t.is_float() {
        return cx.err("only float pooling is supported");
    }
    let Some(g) = Geometry::new(
        &xd[2..],
        &yd[2..],
        &p.kernel,
        &p.strides,
        &p.pads,
        &p.dilations,
    ) else {
        return cx.err(format!("{}-d pooling is not supported yet", p.kernel.len()));
    };
    let k = p.kernel.len();
    // End pads of the (normalised 2-D) geometry.
    let (ph_end, pw_end) = if k == 1 {
        (0, p.pads[1] as i64)
    } else {
        (p.pads[2] as i64, p.pads[3] as i64)
    };
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let planes = (xd[0] * xd[1]) as i64;
    let acc = cx.b.var("acc", t);
    let count = cx.b.var("count", ScalarType::I64);
    let kind = p.kind;

    cx.b.for_loop("nc", 0, planes, LoopKind::Parallel, |b, nc| {
        b.for_loop("oh", 0, g.oh, LoopKind::Serial, |b, oh| {
            b.for_loop("ow", 0, g.ow, LoopKind::Serial, |b, ow| {
                let init = match kind {
                    PoolKind::Max => fconst(f64::NEG_INFINITY, t),
                    PoolKind::Avg { .. } => fconst(0.0, t),
                };
                b.assign(acc, init);
                b.assign(count, Expr::i64(0));
                b.for_loop("kh", 0, g.kh, LoopKind::Unroll, |b, kh| {
                    let ih = oh.clone() * Expr::i64(g.sh) - Expr::i64(g.ph) + kh * Expr::i64(g.dh);
                    b.for_loop("kw", 0, g.kw, LoopKind::Unroll, |b, kw| {
                        let iw =
                            ow.clone() * Expr::i64(g.sw) - Expr::i64(g.pw) + kw * Expr::i64(g.dw);
                        let inside = ih
                            .clone()
                            .ge(Expr::i64(0))
                            .and(ih.clone().lt(Expr::i64(g.h)))
                            .and(iw.clone().ge(Expr::i64(0)))
                            .and(iw.clone().lt(Expr::i64(g.w)));
                        let src = (nc.clone() * Expr::i64(g.h) + ih.clone()) * Expr::i64(g.w)
                            + iw.clone();
                        match kind {
                            PoolKind::Max => b.if_then(inside, |b| {
                                b.assign(acc, Expr::var(acc).max(Expr::load(x, src)));
                            }),
                            PoolKind::Avg { count_include_pad } => {
                                b.if_then(inside, |b| {
                                    b.assign(acc, Expr::var(acc) + Expr::load(x, src));
                                    if !count_include_pad {
                                        b.assign(count, Expr::var(count) + Expr::i64(1));
                                    }
                                });
                                if count_include_pad {
                                    let in_padded = ih
                                        .clone()
                                        .lt(Expr::i64(g.h + ph_end))
                                        .and(iw.lt(Expr::i64(g.w + pw_end)));
                                    b.if_then(in_padded, |b| {
                                        b.assign(count, Expr::var(count) + Expr::i64(1));
                                    });
                                }
                            }
                        }
                    });
                });
                let dst = (nc.clone() * Expr::i64(g.oh) + oh.clone()) * Expr::i64(g.ow) + ow;
                let value = match kind {
                    PoolKind::Max => Expr::var(acc),
                    PoolKind::Avg { .. } => {
                        Expr::var(acc) / Expr::cast(t, Expr::var(count).max(Expr::i64(1)))
                    }
                };
                b.store(y, dst, value);
            });
        });
    });
    Ok(())
}

pub(super) fn global_pool(cx: &mut Ctx<'_>, p: &GlobalPool) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    if !t.is_float() {
        return cx.err("only float pooling is supported");
    }
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let planes = (xd[0] * xd[1]) as i64;
    let size: i64 = xd[2..].iter().product::<u64>() as i64;
    let acc = cx.b.var("acc", t);
    let kind = p.kind;
    cx.b.for_loop("nc", 0, planes, LoopKind::Parallel, |b, nc| {
        let init = match kind {
            PoolKind::Max => fconst(f64::NEG_INFINITY, t),
            PoolKind::Avg { .. } => fconst(0.0, t),
        };
        b.assign(acc, init);
        b.for_loop("i", 0, size, LoopKind::Serial, |b, i| {
            let v = Expr::load(x, nc.clone() * Expr::i64(size) + i);
            let next = match kind {
                PoolKind::Max => Expr::var(acc).max(v),
                PoolKind::Avg { .. } => Expr::var(acc) + v,
            };
            b.assign(acc, next);
        });
        let value = match kind {
            PoolKind::Max => Expr::var(acc),
            PoolKind::Avg { .. } => Expr::var(acc) / fconst(size as f64, t),
        };
        b.store(y, nc, value);
    });
    Ok(())
}
