//! ArgMax/ArgMin: for every (outer, inner) position a serial scan along the axis keeps
//! the best value and its index. The outer loop is parallel. Comparisons are strict
//! (first index wins ties) or not (`last`: last index wins), so NaN elements are never
//! selected unless they come first, as in the IR's reference evaluation.

use super::{Ctx, LowerError};
use crate::expr::{CmpOp, Expr};
use crate::kernel::{LoopKind, ScalarType};
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
