//! Reductions: `mean`, `sum`, `prod`, `amax`, `amin`, `max`/`min` (all three
//! overloads), `argmax`, `argmin`, `any`, `all`, `var`, `std`, `logsumexp`, `cumsum`.
//!
//! `dim` may be one int, a list, or absent (all dims); integer and bool sums
//! accumulate in `int64` as torch does. `max.dim`/`min.dim` return values and indices
//! (an ArgMax/ArgMin beside the reduction). `any`/`all` reduce a 0/1 `uint8` copy of
//! the input. `var`/`std` take `unbiased` or `correction`.

use super::call::Call;
use super::elementwise::binary_promoted;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{ArgReduce, BinaryOp, CumSum, Reduce, ReduceKind, TopK, UnaryOp};
use neoc_ir::{DType, IrError, Op, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op("mean", mean, "ReduceMean; dtype casts first"),
    op("sum", sum, "ReduceSum; ints and bools accumulate in int64"),
    op("prod", prod, "ReduceProd"),
    op("amax", amax, "ReduceMax"),
    op("amin", amin, "ReduceMin"),
    op("max", max, "all, dim (values and indices) or elementwise"),
    op("min", min, "all, dim (values and indices) or elementwise"),
    op("argmax", argmax, "ArgMax; no dim flattens"),
    op("argmin", argmin, "ArgMin; no dim flattens"),
    op("any", any, "ReduceMax of a uint8 copy"),
    op("all", all, "ReduceMin of a uint8 copy"),
    op("var", var, "unbiased or correction"),
    op("std", std, "sqrt(var)"),
    op("logsumexp", logsumexp, "max + log(sum(exp(x - max)))"),
    op("cumsum", cumsum, "CumSum"),
    op("topk", topk, "TopK (values and int64 indices, sorted)"),
];

fn one(v: ValueId) -> Result<Vec<Val>, IrError> {
    Ok(vec![Val::Tensor(v)])
}

/// The sorted, distinct axes of a `dim` argument (`None` or `[]`: all).
fn axes(c: &Call<'_>, x: ValueId, i: usize) -> Result<Vec<usize>, IrError> {
    let r = c.rank(x);
    let mut out = match c.opt_ints(i, "dim")? {
        None => (0..r).collect(),
        Some(d) if d.is_empty() => (0..r).collect(),
        Some(d) => d
            .iter()
            .map(|&a| c.axis(a, r.max(1)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if r == 0 {
        out.clear();
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn reduce(
    c: &mut Call<'_>,
    kind: ReduceKind,
    x: ValueId,
    axes: Vec<usize>,
    keepdims: bool,
) -> Result<ValueId, IrError> {
    if c.rank(x) == 0 {
        return Ok(x);
    }
    c.add(
        Op::Reduce(Reduce {
            kind,
            axes,
            keepdims,
        }),
        &[x],
    )
}

/// `mean(self, dim, keepdim, dtype)` and friends with the common argument layout.
fn simple(c: &mut Call<'_>, kind: ReduceKind, widen: bool) -> Result<Vec<Val>, IrError> {
    let mut x = c.tensor(0, "self")?;
    // `sum(self, dtype)` (all dims) has the dtype second.
    let (dim_at, keep_at, dtype_at) =
        if matches!(c.get(1, "dim"), Some(Val::Int(_)) | Some(Val::List(_)))
            || c.has(usize::MAX, "dim")
        {
            (1, 2, 3)
        } else {
            (usize::MAX, usize::MAX, 1)
        };
    if let Some(d) = c.opt_dtype(dtype_at, "dtype")? {
        x = c.cast(x, d)?;
    } else if widen && !c.dtype(x).is_float() {
        x = c.cast(x, DType::I64)?;
    }
    let a = axes(c, x, dim_at)?;
    let keep = c.bool(keep_at, "keepdim", false)?;
    one(reduce(c, kind, x, a, keep)?)
}

fn mean(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, ReduceKind::Mean, false)
}
fn sum(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, ReduceKind::Sum, true)
}
fn prod(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, ReduceKind::Prod, true)
}
fn amax(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, ReduceKind::Max, false)
}
fn amin(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, ReduceKind::Min, false)
}

/// `max(self)`, `max.dim(self, dim, keepdim)` → (values, indices), `max.other`.
fn extreme(c: &mut Call<'_>, is_max: bool) -> Result<Vec<Val>, IrError> {
    let kind = if is_max {
        ReduceKind::Max
    } else {
        ReduceKind::Min
    };
    if let Some(Val::Tensor(_)) = c.get(1, "other") {
        let a = c.operand(0, "self")?;
        let b = c.operand(1, "other")?;
        let op = if is_max { BinaryOp::Max } else { BinaryOp::Min };
        return one(binary_promoted(c, op, a, b)?);
    }
    let x = c.tensor(0, "self")?;
    let Some(d) = c.opt_int(1, "dim")? else {
        let a = axes(c, x, usize::MAX)?;
        return one(reduce(c, kind, x, a, false)?);
    };
    let r = c.rank(x);
    let axis = c.axis(d, r.max(1))?;
    let keepdims = c.bool(2, "keepdim", false)?;
    if r == 0 {
        let z = c.scalar(DType::I64, 0.0);
        return Ok(vec![Val::Tensor(x), Val::Tensor(z)]);
    }
    let v = reduce(c, kind, x, vec![axis], keepdims)?;
    let i = c.add(
        Op::ArgReduce(ArgReduce {
            max: is_max,
            axis,
            keepdims,
            last: false,
        }),
        &[x],
    )?;
    Ok(vec![Val::Tensor(v), Val::Tensor(i)])
}

fn max(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    extreme(c, true)
}
fn min(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    extreme(c, false)
}

fn arg(c: &mut Call<'_>, is_max: bool) -> Result<Vec<Val>, IrError> {
    let mut x = c.tensor(0, "self")?;
    let keepdims = c.bool(2, "keepdim", false)?;
    let axis = match c.opt_int(1, "dim")? {
        Some(d) => c.axis(d, c.rank(x).max(1))?,
        None => {
            let n: u64 = c.dims(x)?.iter().product();
            x = c.reshape(x, &[n])?;
            0
        }
    };
    if c.rank(x) == 0 {
        return one(c.scalar(DType::I64, 0.0));
    }
    one(c.add(
        Op::ArgReduce(ArgReduce {
            max: is_max,
            axis,
            keepdims,
            last: false,
        }),
        &[x],
    )?)
}

fn argmax(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    arg(c, true)
}
fn argmin(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    arg(c, false)
}

fn bool_reduce(c: &mut Call<'_>, kind: ReduceKind) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let b = super::elementwise::truthy(c, x)?;
    let u = c.cast(b, DType::U8)?;
    let a = axes(c, x, 1)?;
    let keep = c.bool(2, "keepdim", false)?;
    let r = reduce(c, kind, u, a, keep)?;
    one(c.cast(r, DType::Bool)?)
}

fn any(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    bool_reduce(c, ReduceKind::Max)
}
fn all(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    bool_reduce(c, ReduceKind::Min)
}

/// Variance over `dim` with `correction` (or `unbiased`: 1 or 0).
fn variance(c: &mut Call<'_>) -> Result<ValueId, IrError> {
    let x = c.tensor(0, "self")?;
    let a = axes(c, x, 1)?;
    let correction = match c.get(usize::MAX, "correction") {
        Some(_) => c.float(usize::MAX, "correction", 1.0)?,
        None => match c.get(2, "unbiased") {
            Some(Val::Bool(u)) => f64::from(u8::from(*u)),
            Some(_) => c.float(2, "correction", 1.0)?,
            None => 1.0,
        },
    };
    let keep = c.bool(3, "keepdim", false)?;
    let d = c.dims(x)?;
    let n: u64 = a.iter().map(|&i| d[i]).product();
    let m = reduce(c, ReduceKind::Mean, x, a.clone(), true)?;
    let dev = c.binary(BinaryOp::Sub, x, m)?;
    let sq = c.binary(BinaryOp::Mul, dev, dev)?;
    let s = reduce(c, ReduceKind::Sum, sq, a, keep)?;
    let denom = (n as f64 - correction).max(0.0);
    c.binary_scalar(BinaryOp::Div, s, denom)
}

fn var(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    one(variance(c)?)
}

fn std(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let v = variance(c)?;
    one(c.unary(UnaryOp::Sqrt, v)?)
}

fn logsumexp(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let a = axes(c, x, 1)?;
    let keep = c.bool(2, "keepdim", false)?;
    let m = reduce(c, ReduceKind::Max, x, a.clone(), true)?;
    let sh = c.binary(BinaryOp::Sub, x, m)?;
    let e = c.unary(UnaryOp::Exp, sh)?;
    let s = reduce(c, ReduceKind::Sum, e, a.clone(), true)?;
    let l = c.unary(UnaryOp::Log, s)?;
    let r = c.binary(BinaryOp::Add, l, m)?;
    if keep {
        return one(r);
    }
    let d: Vec<u64> = c
        .dims(r)?
        .iter()
        .enumerate()
        .filter(|(i, _)| !a.contains(i))
        .map(|(_, &n)| n)
        .collect();
    one(c.reshape(r, &d)?)
}

fn cumsum(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let mut x = c.tensor(0, "self")?;
    let axis = c.axis(c.req_int(1, "dim")?, c.rank(x).max(1))?;
    if let Some(d) = c.opt_dtype(2, "dtype")? {
        x = c.cast(x, d)?;
    } else if !c.dtype(x).is_float() {
        x = c.cast(x, DType::I64)?;
    }
    one(c.add(
        Op::CumSum(CumSum {
            axis,
            exclusive: false,
            reverse: false,
        }),
        &[x],
    )?)
}

/// `topk(self, k, dim=-1, largest=True, sorted=True)`.
fn topk(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let k = u64::try_from(c.req_int(1, "k")?).map_err(|_| c.attr_err("negative k"))?;
    let axis = c.axis(c.int(2, "dim", -1)?, c.rank(x).max(1))?;
    let largest = c.bool(3, "largest", true)?;
    let out = c.add_multi(Op::TopK(TopK { axis, k, largest }), &[x])?;
    Ok(out.into_iter().map(Val::Tensor).collect())
}
