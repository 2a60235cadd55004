//! Reductions (`Mean`, `Sum`, `Max`, `Min`, `Prod`) and `ArgMax`/`ArgMin`.
//!
//! Axes come from a constant input (`reduction_indices`), negative ones counted from
//! the end; `keep_dims` keeps them as ones. A rank-4 input held in NCHW form is reduced
//! in it (axes permuted) when the result's remaining dims keep their order, which is
//! the case for global pooling (`Mean` over H and W of NHWC), so it costs no transpose.

use super::{op, Ctx, TfOp};
use crate::value::{Val, TO_NCHW};
use neoc_ir::ops::{ArgReduce, Reduce, ReduceKind};
use neoc_ir::shape::normalize_axis;
use neoc_ir::{DType, IrError, Op};

pub(crate) const OPS: &[TfOp] = &[
    op("Mean", mean, "axes constant; keep_dims"),
    op("Sum", sum, "axes constant; keep_dims"),
    op("Max", max, "axes constant; keep_dims"),
    op("Min", min, "axes constant; keep_dims"),
    op("Prod", prod, "axes constant; keep_dims"),
    op(
        "ArgMax",
        arg_max,
        "axis constant; output_type int64 (default) or int32",
    ),
    op(
        "ArgMin",
        arg_min,
        "axis constant; output_type int64 (default) or int32",
    ),
];

fn mean(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    reduce(c, ReduceKind::Mean)
}
fn sum(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    reduce(c, ReduceKind::Sum)
}
fn max(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    reduce(c, ReduceKind::Max)
}
fn min(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    reduce(c, ReduceKind::Min)
}
fn prod(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    reduce(c, ReduceKind::Prod)
}

fn reduce(c: &mut Ctx<'_>, kind: ReduceKind) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let rank = c.rank(x)?;
    let raw = c.const_ints(1, "reduction_indices")?;
    let keepdims = c.attr_b("keep_dims", false);
    let mut axes = raw
        .iter()
        .map(|&a| normalize_axis(a, rank).map_err(|e| e.at(c.name(), c.op())))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    if axes.is_empty() {
        return Ok(vec![Val::Tensor(x)]);
    }
    if rank == 4 && c.has_nchw(x) {
        // Remaining dims in plain order vs. in NCHW order: equal means the NCHW result
        // (without keepdims) is already the plain result.
        let kept_plain: Vec<usize> = (0..4).filter(|a| !axes.contains(a)).collect();
        let kept_nchw: Vec<usize> = TO_NCHW
            .iter()
            .copied()
            .filter(|a| !axes.contains(a))
            .collect();
        if keepdims || kept_plain == kept_nchw {
            let mut nchw_axes: Vec<usize> = axes
                .iter()
                .filter_map(|a| TO_NCHW.iter().position(|p| p == a))
                .collect();
            nchw_axes.sort_unstable();
            let xv = c.nchw(x)?;
            let v = c.add(
                Op::Reduce(Reduce {
                    kind,
                    axes: nchw_axes,
                    keepdims,
                }),
                vec![xv],
            )?;
            return Ok(vec![if keepdims {
                c.nchw_out(v)
            } else {
                c.plain_out(v)
            }]);
        }
    }
    let xv = c.plain(x)?;
    let v = c.add(
        Op::Reduce(Reduce {
            kind,
            axes,
            keepdims,
        }),
        vec![xv],
    )?;
    Ok(vec![c.plain_out(v)])
}

fn arg_max(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    arg(c, true)
}
fn arg_min(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    arg(c, false)
}

fn arg(c: &mut Ctx<'_>, max: bool) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let rank = c.rank(x)?;
    let axis = c.const_int(1, "dimension")?;
    let axis = normalize_axis(axis, rank).map_err(|e| e.at(c.name(), c.op()))?;
    let out_type = c.attr_dtype("output_type", DType::I64)?;
    let xv = c.plain(x)?;
    let mut v = c.add(
        Op::ArgReduce(ArgReduce {
            max,
            axis,
            keepdims: false,
            last: false,
        }),
        vec![xv],
    )?;
    if out_type != DType::I64 {
        v = c.add(Op::Cast(neoc_ir::ops::Cast { to: out_type }), vec![v])?;
    }
    Ok(vec![c.plain_out(v)])
}
