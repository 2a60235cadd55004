//! Pooling: windowed max/average (any number of spatial dims) and global max/average.
//!
//! Windowed pooling visits each output position and its window; taps outside the image
//! are skipped (max) or excluded from the count (average without `count_include_pad`).
//! With `count_include_pad`, the divisor counts window taps inside the padded extent
//! `[-pad_begin, size + pad_end)`, which is what onnxruntime divides by.

use super::{fconst, Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::{GlobalPool, Pool, PoolKind};
use neoc_ir::shape::strides;

/// The most window taps a pooling kernel unrolls.
const MAX_UNROLLED_TAPS: u64 = 64;

pub(super) fn pool(cx: &mut Ctx<'_>, p: &Pool) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let (xd, yd) = (cx.dims(vx)?, cx.dims(cx.output(0))?);
    let t = cx.scalar_type(vx)?;
    if t == ScalarType::U8 {
        return super::int8_pool::max_pool_u8(cx, p);
    }
    if !t.is_float() {
        return cx.err("only float pooling is supported");
    }
    let k = p.kernel.len();
    let (in_sp, out_sp) = (&xd[2..], &yd[2..]);
    let in_st = strides(in_sp);
    let in_plane: i64 = in_sp.iter().product::<u64>() as i64;
    let out_plane: i64 = out_sp.iter().product::<u64>() as i64;
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let planes = (xd[0] * xd[1]) as i64;
    let acc = cx.b.var("acc", t);
    let count = cx.b.var("count", ScalarType::I64);
    let kind = p.kind;
    let serial = vec![LoopKind::Serial; k];
    // Small windows unroll fully; a large one (a 60×80 window has 4800 taps) keeps
    // its loops, or code size and compile time explode.
    let taps: u64 = p.kernel.iter().product();
    let unrolled: Vec<LoopKind> = if taps <= MAX_UNROLLED_TAPS {
        vec![LoopKind::Unroll; k]
    } else {
        vec![LoopKind::Serial; k]
    };

    cx.b.for_loop("nc", 0, planes, LoopKind::Parallel, |b, nc| {
        b.loop_nest("o", out_sp, &serial, |b, oc| {
            let init = match kind {
                PoolKind::Max => fconst(f64::NEG_INFINITY, t),
                PoolKind::Avg { .. } => fconst(0.0, t),
            };
            b.assign(acc, init);
            b.assign(count, Expr::i64(0));
            b.loop_nest("k", &p.kernel, &unrolled, |b, kc| {
                // Input position of this tap along each spatial dim.
                let pos: Vec<Expr> = (0..k)
                    .map(|d| {
                        oc[d].clone() * Expr::i64(p.strides[d] as i64) - Expr::i64(p.pads[d] as i64)
                            + kc[d].clone() * Expr::i64(p.dilations[d] as i64)
                    })
                    .collect();
                let all = |test: &dyn Fn(usize, &Expr) -> Expr| {
                    (1..k).fold(test(0, &pos[0]), |acc, d| acc.and(test(d, &pos[d])))
                };
                let inside = all(&|d, q| {
                    q.clone()
                        .ge(Expr::i64(0))
                        .and(q.clone().lt(Expr::i64(in_sp[d] as i64)))
                });
                let mut src = nc.clone() * Expr::i64(in_plane);
                for (q, &st) in pos.iter().zip(&in_st) {
                    src = src + q.clone() * Expr::i64(st as i64);
                }
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
                            // Inside the padded extent [-pad_begin, size + pad_end).
                            let in_padded = all(&|d, q| {
                                q.clone()
                                    .lt(Expr::i64(in_sp[d] as i64 + p.pads[k + d] as i64))
                            });
                            b.if_then(in_padded, |b| {
                                b.assign(count, Expr::var(count) + Expr::i64(1));
                            });
                        }
                    }
                }
            });
            let dst = nc.clone() * Expr::i64(out_plane) + crate::builder::linear_index(oc, out_sp);
            let value = match kind {
                PoolKind::Max => Expr::var(acc),
                PoolKind::Avg { .. } => {
                    Expr::var(acc) / Expr::cast(t, Expr::var(count).max(Expr::i64(1)))
                }
            };
            b.store(y, dst, value);
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
    if crate::gpu::rows::block_per_row(&cx.unit, size as u64, t) {
        // On a GPU: one block per plane (`gpu::rows`).
        let b = &mut cx.b;
        let r = crate::gpu::rows::Rows::start(b, planes as u64, size as u64);
        let (init, op) = match kind {
            PoolKind::Max => (f64::NEG_INFINITY, crate::expr::BinaryOp::Max),
            PoolKind::Avg { .. } => (0.0, crate::expr::BinaryOp::Add),
        };
        b.assign(acc, fconst(init, t));
        r.each(b, |b, i| {
            let v = Expr::load(x, r.row() * Expr::i64(size) + i);
            b.assign(acc, Expr::binary(op, Expr::var(acc), v));
        });
        r.all_reduce(b, op, acc);
        let value = match kind {
            PoolKind::Max => Expr::var(acc),
            PoolKind::Avg { .. } => Expr::var(acc) / fconst(size as f64, t),
        };
        r.first_thread(b, |b| b.store(y, r.row(), value));
        return Ok(());
    }
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
