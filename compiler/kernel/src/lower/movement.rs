//! Data movement: Transpose, Concat, Gather and Slice as strided copy loops.

use super::elementwise::{broadcast_loops, collapse, strided_index};
use super::{Ctx, LowerError};
use crate::expr::{CmpOp, Expr};
use crate::kernel::{LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::{Concat, Gather, Slice, Transpose};
use neoc_ir::shape::strides;

pub(super) fn transpose(cx: &mut Ctx<'_>, t: &Transpose) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let (xd, yd) = (cx.dims(vx)?, cx.dims(cx.output(0))?);
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let xs = strides(&xd);
    // Reading x while iterating over y: output dim i walks input dim perm[i].
    let src: Vec<u64> = t.perm.iter().map(|&p| xs[p]).collect();
    let (dims, st) = collapse(&yd, &[src]);
    broadcast_loops(&mut cx.b, &dims, &st, |b, idx| {
        b.store(y, idx[1].clone(), Expr::load(x, idx[0].clone()));
    });
    Ok(())
}

pub(super) fn concat(cx: &mut Ctx<'_>, c: &Concat) -> Result<(), LowerError> {
    let yd = cx.dims(cx.output(0))?;
    let n_in = cx.graph.node(cx.node).inputs.len();
    let mut srcs = Vec::with_capacity(n_in);
    for i in 0..n_in {
        let Some(v) = cx.input(i) else {
            return cx.err(format!("input {i} is missing"));
        };
        srcs.push((cx.bind_input(i)?, cx.dims(v)?));
    }
    let y = cx.bind_output(0)?;
    let ys = strides(&yd);
    let mut offset = 0u64;
    for (buf, d) in srcs {
        if d[c.axis] == 0 {
            continue;
        }
        // Iterate over the input; write at an offset along the axis.
        let xs = strides(&d);
        let (dims, st) = collapse(&d, &[xs, ys.clone()]);
        let base = offset * ys[c.axis];
        broadcast_loops(&mut cx.b, &dims, &st[..2], |b, idx| {
            b.store(
                y,
                idx[1].clone() + Expr::i64(base as i64),
                Expr::load(buf, idx[0].clone()),
            );
        });
        offset += d[c.axis];
    }
    Ok(())
}

/// `j = raw` as i64, a negative index counted from the end of the axis, out-of-range
/// ones clamped (onnxruntime rejects them at run time; a kernel must not read outside).
pub(super) fn load_index(
    b: &mut KernelBuilder,
    j: VarId,
    raw: Expr,
    (t, axis_len): (ScalarType, i64),
) {
    let raw = if t == ScalarType::I64 {
        raw
    } else {
        Expr::cast(ScalarType::I64, raw)
    };
    b.assign(j, raw);
    let wrapped = Expr::select(
        Expr::cmp(CmpOp::Lt, Expr::var(j), Expr::i64(0)),
        Expr::var(j) + Expr::i64(axis_len),
        Expr::var(j),
    );
    b.assign(j, wrapped.max(Expr::i64(0)).min(Expr::i64(axis_len - 1)));
}

pub(super) fn gather(cx: &mut Ctx<'_>, g: &Gather) -> Result<(), LowerError> {
    let (Some(vd), Some(vi)) = (cx.input(0), cx.input(1)) else {
        return cx.err("missing operand");
    };
    let (dd, id) = (cx.dims(vd)?, cx.dims(vi)?);
    let idx_t = cx.scalar_type(vi)?;
    let data = cx.bind_input(0)?;
    let indices = cx.bind_input(1)?;
    let y = cx.bind_output(0)?;
    let outer: i64 = dd[..g.axis].iter().product::<u64>() as i64;
    let axis_len = dd[g.axis] as i64;
    let inner: i64 = dd[g.axis + 1..].iter().product::<u64>() as i64;
    let count: i64 = id.iter().product::<u64>() as i64;
    let j = cx.b.var("j", ScalarType::I64);
    cx.b.for_loop("o", 0, outer, LoopKind::Parallel, |b, o| {
        b.for_loop("q", 0, count, LoopKind::Serial, |b, q| {
            load_index(b, j, Expr::load(indices, q.clone()), (idx_t, axis_len));
            b.for_loop("i", 0, inner, LoopKind::Vectorize, |b, i| {
                let src =
                    (o.clone() * Expr::i64(axis_len) + Expr::var(j)) * Expr::i64(inner) + i.clone();
                let dst = (o.clone() * Expr::i64(count) + q.clone()) * Expr::i64(inner) + i;
                b.store(y, dst, Expr::load(data, src));
            });
        });
    });
    Ok(())
}

pub(super) fn slice(cx: &mut Ctx<'_>, s: &Slice) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let (xd, yd) = (cx.dims(vx)?, cx.dims(cx.output(0))?);
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let xs = strides(&xd);
    let ys = strides(&yd);
    let mut base: i64 = 0;
    let mut step_strides = Vec::with_capacity(xd.len());
    for (d, &stride) in xs.iter().enumerate() {
        match s.axes.iter().find(|a| a.axis == d) {
            Some(a) => {
                base += a.start * stride as i64;
                step_strides.push(a.step * stride as i64);
            }
            None => step_strides.push(stride as i64),
        }
    }
    if yd.contains(&0) {
        return Ok(());
    }
    let kinds: Vec<LoopKind> = (0..yd.len())
        .map(|i| {
            if i + 1 == yd.len() {
                LoopKind::Vectorize
            } else {
                LoopKind::Serial
            }
        })
        .collect();
    cx.b.loop_nest("i", &yd, &kinds, |b, iv| {
        let mut src = Expr::i64(base);
        for (i, &st) in iv.iter().zip(&step_strides) {
            if st != 0 {
                src = src + i.clone() * Expr::i64(st);
            }
        }
        b.store(y, strided_index(iv, &ys), Expr::load(x, src));
    });
    Ok(())
}

/// GatherElements: one output element per index; the data offset is the output's own
/// coordinates with the axis coordinate replaced by the (wrapped, clamped) index.
pub(super) fn gather_elements(
    cx: &mut Ctx<'_>,
    g: &neoc_ir::ops::GatherElements,
) -> Result<(), LowerError> {
    let (Some(vd), Some(vi)) = (cx.input(0), cx.input(1)) else {
        return cx.err("missing operand");
    };
    let (dd, id) = (cx.dims(vd)?, cx.dims(vi)?);
    let idx_t = cx.scalar_type(vi)?;
    let data = cx.bind_input(0)?;
    let indices = cx.bind_input(1)?;
    let y = cx.bind_output(0)?;
    let ds = neoc_ir::shape::strides(&dd);
    let axis_len = dd[g.axis] as i64;
    let j = cx.b.var("j", ScalarType::I64);
    cx.b.loop_nest("o", &id, &[LoopKind::Parallel], |b, coords| {
        let flat = crate::builder::linear_index(coords, &id);
        load_index(b, j, Expr::load(indices, flat.clone()), (idx_t, axis_len));
        let mut src = Expr::i64(0);
        for (a, c) in coords.iter().enumerate() {
            let coord = if a == g.axis { Expr::var(j) } else { c.clone() };
            src = src + coord * Expr::i64(ds[a] as i64);
        }
        b.store(y, flat, Expr::load(data, src));
    });
    Ok(())
}
