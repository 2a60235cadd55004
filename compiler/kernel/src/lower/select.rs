//! Where and Expand: broadcasting selection and broadcasting copy.
//!
//! Both loop over the output with every operand read through broadcast strides (zero
//! where an operand is broadcast), after merging dims that are contiguous for all of
//! them, as the binary elementwise ops do.

use super::elementwise::{broadcast_loops, broadcast_strides, collapse};
use super::{Ctx, LowerError};
use crate::expr::Expr;

/// `out = cond ? x : y`, the three inputs broadcast to the output shape.
pub(super) fn where_(cx: &mut Ctx<'_>) -> Result<(), LowerError> {
    let (Some(vc), Some(vx), Some(vy)) = (cx.input(0), cx.input(1), cx.input(2)) else {
        return cx.err("missing operand");
    };
    let od = cx.dims(cx.output(0))?;
    let st = [
        broadcast_strides(&cx.dims(vc)?, &od),
        broadcast_strides(&cx.dims(vx)?, &od),
        broadcast_strides(&cx.dims(vy)?, &od),
    ];
    let c = cx.bind_input(0)?;
    let x = cx.bind_input(1)?;
    let y = cx.bind_input(2)?;
    let out = cx.bind_output(0)?;
    let (dims, st) = collapse(&od, &st);
    broadcast_loops(&mut cx.b, &dims, &st, |b, idx| {
        let v = Expr::select(
            Expr::load(c, idx[0].clone()),
            Expr::load(x, idx[1].clone()),
            Expr::load(y, idx[2].clone()),
        );
        b.store(out, idx[3].clone(), v);
    });
    Ok(())
}

/// Copies the input to the (larger) output shape along broadcast strides.
pub(super) fn expand(cx: &mut Ctx<'_>) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let od = cx.dims(cx.output(0))?;
    let sx = broadcast_strides(&cx.dims(vx)?, &od);
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let (dims, st) = collapse(&od, &[sx]);
    broadcast_loops(&mut cx.b, &dims, &st, |b, idx| {
        b.store(y, idx[1].clone(), Expr::load(x, idx[0].clone()));
    });
    Ok(())
}
