//! The Reduce family: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
//! ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum and ReduceLogSumExp.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__ReduceSum.html> and siblings. Opset notes:
//! - `axes` is an attribute before 13 for ReduceSum and before 18 for the others; from
//!   then on it is the optional input 1, which must be a constant, and
//!   `noop_with_empty_axes` (default 0) says what absent or empty axes mean: every axis
//!   (0), or no reduction at all (1, imported as Identity).
//! - Negative axes count from the end; repeated axes count once. `keepdims` defaults to 1.
//! - ReduceMax/ReduceMin of bool (opset 20 allows it) are `any`/`all`: the IR reduces
//!   numbers only, so the input is cast to uint8, reduced, and cast back.
//! - ReduceLogSumExp is desugared: `m + log(sum(exp(x - m)))` with `m = ReduceMax(x)`
//!   (kept dims), so large inputs do not overflow.
//! - CumSum (11+): the `axis` input must be a constant scalar; `exclusive`, `reverse`.
//! - ArgMax/ArgMin (<https://onnx.ai/onnx/operators/onnx__ArgMax.html>) map to the IR
//!   `ArgReduce`: `axis` (default 0, negative from 11), `keepdims` (default 1) and
//!   `select_last_index` (12+; absent before, which means 0).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{ArgReduce, BinaryOp, Cast, Reduce, ReduceKind, UnaryOp};
use neoc_ir::{DType, IrError, Op};

const ATTR: &str = "axes attribute";
const INPUT: &str = "axes input (constant), noop_with_empty_axes";

pub(crate) const SPECS: &[OpSpec] = &[
    spec("ReduceSum", 7, 12, sum, ATTR),
    spec("ReduceSum", 13, 22, sum, INPUT),
    spec("ReduceMean", 7, 17, mean, ATTR),
    spec("ReduceMean", 18, 22, mean, INPUT),
    spec("ReduceMax", 7, 17, max, "axes attribute; NaN-propagating"),
    spec(
        "ReduceMax",
        18,
        22,
        max,
        "axes input (constant); NaN-propagating; bool (any) through uint8",
    ),
    spec("ReduceMin", 7, 17, min, "axes attribute; NaN-propagating"),
    spec(
        "ReduceMin",
        18,
        22,
        min,
        "axes input (constant); NaN-propagating; bool (all) through uint8",
    ),
    spec("ReduceProd", 7, 17, prod, ATTR),
    spec("ReduceProd", 18, 22, prod, INPUT),
    spec("ReduceSumSquare", 7, 17, sum_square, ATTR),
    spec("ReduceSumSquare", 18, 22, sum_square, INPUT),
    spec("ReduceL1", 7, 17, l1, ATTR),
    spec("ReduceL1", 18, 22, l1, INPUT),
    spec("ReduceL2", 7, 17, l2, ATTR),
    spec("ReduceL2", 18, 22, l2, INPUT),
    spec("ReduceLogSum", 7, 17, log_sum, ATTR),
    spec("ReduceLogSum", 18, 22, log_sum, INPUT),
    spec(
        "ReduceLogSumExp",
        7,
        17,
        log_sum_exp,
        "axes attribute; desugared: max + log(sum(exp(x - max)))",
    ),
    spec(
        "ReduceLogSumExp",
        18,
        22,
        log_sum_exp,
        "axes input (constant); desugared as for 7-17",
    ),
    spec(
        "ArgMax",
        7,
        22,
        arg_max,
        "axis, keepdims, select_last_index; int64 output",
    ),
    spec(
        "ArgMin",
        7,
        22,
        arg_min,
        "axis, keepdims, select_last_index; int64 output",
    ),
    spec(
        "CumSum",
        11,
        22,
        cumsum,
        "axis input constant; exclusive, reverse",
    ),
];

fn arg_reduce(c: &mut NodeCtx<'_>, max: bool) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let axis = c.attrs.int("axis", 0)?;
    let axis = c.axis(axis, rank)?;
    let keepdims = c.attrs.int("keepdims", 1)? != 0;
    let last = c.attrs.int("select_last_index", 0)? != 0;
    c.emit1(
        Op::ArgReduce(ArgReduce {
            max,
            axis,
            keepdims,
            last,
        }),
        vec![Some(x)],
    )
}
fn arg_max(c: &mut NodeCtx<'_>) -> Built {
    arg_reduce(c, true)
}
fn arg_min(c: &mut NodeCtx<'_>) -> Built {
    arg_reduce(c, false)
}

/// The opset from which `axes` is an input for this op.
fn axes_input_from(kind: Option<ReduceKind>) -> i64 {
    if kind == Some(ReduceKind::Sum) {
        13
    } else {
        18
    }
}

/// The resolved reduction, or `None` for a no-op (`noop_with_empty_axes` with no axes).
fn resolve(
    c: &NodeCtx<'_>,
    kind: Option<ReduceKind>,
) -> Result<Option<(Vec<usize>, bool)>, IrError> {
    let x = c.req(0)?;
    let rank = c.ty(x).rank();
    let keepdims = c.attrs.flag("keepdims", true)?;
    let axes = if c.opset < axes_input_from(kind) {
        c.attrs
            .ints("axes")?
            .map(<[i64]>::to_vec)
            .unwrap_or_default()
    } else {
        let axes = c.const_ints(1, "axes")?.unwrap_or_default();
        if axes.is_empty() && c.attrs.flag("noop_with_empty_axes", false)? {
            return Ok(None);
        }
        axes
    };
    let mut out = axes
        .iter()
        .map(|&a| c.axis(a, rank))
        .collect::<Result<Vec<usize>, IrError>>()?;
    out.sort_unstable();
    out.dedup();
    // Naming every axis is the same as naming none.
    if out.len() == rank {
        out.clear();
    }
    Ok(Some((out, keepdims)))
}

fn reduce(c: &mut NodeCtx<'_>, kind: ReduceKind) -> Built {
    let x = c.req(0)?;
    let Some((axes, keepdims)) = resolve(c, Some(kind))? else {
        return c.emit1(Op::Identity, vec![Some(x)]);
    };
    let op = Op::Reduce(Reduce {
        kind,
        axes,
        keepdims,
    });
    if c.ty(x).dtype == DType::Bool && matches!(kind, ReduceKind::Max | ReduceKind::Min) {
        // any / all, as a reduction of 0/1 bytes.
        let bytes = c.inner("as_u8", Op::Cast(Cast { to: DType::U8 }), vec![Some(x)])?;
        let r = c.inner("reduce_u8", op, vec![Some(bytes)])?;
        return c.emit1(Op::Cast(Cast { to: DType::Bool }), vec![Some(r)]);
    }
    c.emit1(op, vec![Some(x)])
}

fn sum(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::Sum)
}
fn mean(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::Mean)
}
fn max(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::Max)
}
fn min(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::Min)
}
fn prod(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::Prod)
}
fn sum_square(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::SumSquare)
}
fn l1(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::L1)
}
fn l2(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::L2)
}
fn log_sum(c: &mut NodeCtx<'_>) -> Built {
    reduce(c, ReduceKind::LogSum)
}

/// `m + log(sum(exp(x - m)))` with `m` the maximum over the same axes (kept as size-1
/// dims for the subtraction, then reshaped like the result when `keepdims` is 0).
fn log_sum_exp(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let Some((axes, keepdims)) = resolve(c, None)? else {
        return c.emit1(Op::Identity, vec![Some(x)]);
    };
    let red = |kind, keepdims| {
        Op::Reduce(Reduce {
            kind,
            axes: axes.clone(),
            keepdims,
        })
    };
    let m = c.inner("max", red(ReduceKind::Max, true), vec![Some(x)])?;
    let d = c.inner("shifted", Op::Binary(BinaryOp::Sub), vec![Some(x), Some(m)])?;
    let e = c.inner("exp", Op::Unary(UnaryOp::Exp), vec![Some(d)])?;
    let s = c.inner("log_sum", red(ReduceKind::LogSum, keepdims), vec![Some(e)])?;
    let m = if keepdims {
        m
    } else {
        let shape = c.dims(s)?;
        c.inner(
            "max_flat",
            Op::Reshape(neoc_ir::ops::Reshape { shape }),
            vec![Some(m)],
        )?
    };
    c.emit1(Op::Binary(BinaryOp::Add), vec![Some(m), Some(s)])
}

fn cumsum(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let axis = c
        .const_scalar(1, "axis")?
        .ok_or_else(|| c.shape_error("input 1 (axis) is required"))?;
    let axis = c.axis(axis as i64, rank)?;
    let cs = neoc_ir::ops::CumSum {
        axis,
        exclusive: c.attrs.int("exclusive", 0)? != 0,
        reverse: c.attrs.int("reverse", 0)? != 0,
    };
    c.emit1(Op::CumSum(cs), vec![Some(x)])
}
