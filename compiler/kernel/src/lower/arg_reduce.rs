//! ArgMax/ArgMin: for every (outer, inner) position a serial scan along the axis keeps
//! the best value and its index. The outer loop is parallel. Comparisons are strict
//! (first index wins ties) or not (`last`: last index wins), so NaN elements are never
//! selected unless they come first, as in the IR's reference evaluation.

use super::{Ctx, LowerError};
use crate::expr::{BinaryOp, CmpOp, Expr};
use crate::kernel::{LoopKind, ScalarType};
use crate::KernelBuilder;
use neoc_ir::ops::ArgReduce;

pub(super) fn arg_reduce(cx: &mut Ctx<'_>, a: &ArgReduce) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    if t == ScalarType::Bool {
        return cx.err(format!("{} is not defined for bool", a.name()));
    }
    let (outer, n, inner) = a.split(&xd);
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    if outer * inner == 0 {
        return Ok(());
    }
    let cmp = match (a.max, a.last) {
        (true, false) => CmpOp::Gt,
        (true, true) => CmpOp::Ge,
        (false, false) => CmpOp::Lt,
        (false, true) => CmpOp::Le,
    };
    let b = &mut cx.b;
    let best = b.var("best", t);
    let idx = b.var("idx", ScalarType::I64);
    let (n_i, inner_i) = (n as i64, inner as i64);
    b.loop_nest(
        "o",
        &[outer, inner],
        &[LoopKind::Parallel, LoopKind::Serial],
        |b, ov| {
            let base = ov[0].clone() * Expr::i64(n_i * inner_i) + ov[1].clone();
            let dst = ov[0].clone() * Expr::i64(inner_i) + ov[1].clone();
            b.assign(best, Expr::load(x, base.clone()));
            b.assign(idx, Expr::i64(0));
            b.for_loop("k", 1, n_i, LoopKind::Serial, |b, k| {
                let v = Expr::load(x, base + k.clone() * Expr::i64(inner_i));
                let better = Expr::cmp(cmp, v.clone(), Expr::var(best));
                b.if_then(better, |b| {
                    b.assign(best, v);
                    b.assign(idx, k);
                });
            });
            b.store(y, dst, Expr::var(idx));
        },
    );
    Ok(())
}

/// TopK: for every (outer, inner) line, an insertion into the outputs, which hold the
/// line's best `k` so far in order. Element `i` walks the `k` slots from the last to the
/// first: a slot takes its predecessor when the element beats it (shifting the list
/// down), or the element itself when the element beats the slot's value or the slot is
/// still empty (`j >= i`) but not the predecessor. Since the list is sorted, at most one
/// slot takes the element, with no early exit needed. Comparisons are strict, so equal
/// values keep the lower index first. O(n·k) per line; the outer loop is parallel.
pub(super) fn top_k(cx: &mut Ctx<'_>, t: &neoc_ir::ops::TopK) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let ty = cx.scalar_type(vx)?;
    let (outer, n, inner) = t.split(&xd);
    let x = cx.bind_input(0)?;
    let vals = cx.bind_output(0)?;
    let idxs = cx.bind_output(1)?;
    if outer * inner == 0 || t.k == 0 {
        return Ok(());
    }
    let cmp = if t.largest { CmpOp::Gt } else { CmpOp::Lt };
    let (n_i, inner_i, k) = (n as i64, inner as i64, t.k as i64);
    let v = cx.b.var("v", ty);
    cx.b.loop_nest(
        "o",
        &[outer, inner],
        &[LoopKind::Parallel, LoopKind::Serial],
        |b, ov| {
            let src = ov[0].clone() * Expr::i64(n_i * inner_i) + ov[1].clone();
            let dst = ov[0].clone() * Expr::i64(k * inner_i) + ov[1].clone();
            let slot = |j: &Expr| dst.clone() + j.clone() * Expr::i64(inner_i);
            b.for_loop("i", 0, n_i, LoopKind::Serial, |b, i| {
                b.assign(
                    v,
                    Expr::load(x, src.clone() + i.clone() * Expr::i64(inner_i)),
                );
                // Beats slot `s` (which is filled when `s < i`).
                let beats = |s: &Expr| {
                    Expr::cmp(cmp, Expr::var(v), Expr::load(vals, slot(s)))
                        .and(s.clone().lt(i.clone()))
                };
                let take = |b: &mut KernelBuilder, j: &Expr| {
                    let empty = j.clone().ge(i.clone());
                    let cond = Expr::binary(BinaryOp::Or, beats(j), empty);
                    b.if_then(cond, |b| {
                        b.store(vals, slot(j), Expr::var(v));
                        b.store(idxs, slot(j), i.clone());
                    });
                };
                // Slots k-1 down to 1, then slot 0 (which has no predecessor).
                b.for_loop("jj", 0, k - 1, LoopKind::Serial, |b, jj| {
                    let j = Expr::i64(k - 1) - jj;
                    let prev = j.clone() - Expr::i64(1);
                    b.if_else(
                        beats(&prev),
                        |b| {
                            b.store(vals, slot(&j), Expr::load(vals, slot(&prev)));
                            b.store(idxs, slot(&j), Expr::load(idxs, slot(&prev)));
                        },
                        |b| take(b, &j),
                    );
                });
                take(b, &Expr::i64(0));
            });
        },
    );
    Ok(())
}
