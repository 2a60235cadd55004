//! Tensor creation, dtype conversion and shape queries: `arange`, `zeros`/`ones`/
//! `full` (and their `_like`/`new_` forms), `scalar_tensor`, `to`, `_to_copy`,
//! `type_as`, `size`, `dim`, `numel`.
//!
//! Shapes are static, so creation ops build constants (a scalar expanded to the shape,
//! folded at import) and shape queries return plain ints, which is how traced
//! TorchScript's `size`/`NumToTensor`/`int` chains collapse to numbers. Default dtypes
//! are torch's: `float32` for float fills and ranges, `int64` for integer ones, and the
//! fill value's kind for `full`.

use super::call::Call;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::Expand;
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op("arange", arange, "a constant"),
    op("zeros", zeros, "a constant"),
    op("ones", ones, "a constant"),
    op("empty", zeros, "a constant of zeros"),
    op("full", full, "a constant"),
    op("zeros_like", zeros_like, "a constant"),
    op("ones_like", ones_like, "a constant"),
    op("empty_like", zeros_like, "a constant of zeros"),
    op("full_like", full_like, "a constant"),
    op("new_zeros", new_zeros, "a constant"),
    op("new_ones", new_ones, "a constant"),
    op("new_full", new_full, "a constant"),
    op("scalar_tensor", scalar_tensor, "a 0-d constant"),
    op("to", to, "Cast (device and layout ignored)"),
    op("_to_copy", to_copy, "Cast (device and layout ignored)"),
    op("type_as", type_as, "Cast"),
    op("size", size, "an int (or a list of ints)"),
    op("sym_size", size, "an int"),
    op("dim", dim, "an int"),
    op("numel", numel, "an int"),
];

fn one(v: ValueId) -> Result<Vec<Val>, IrError> {
    Ok(vec![Val::Tensor(v)])
}

/// A constant of `dims` filled with `value`, as an expanded scalar (folded at import,
/// within the folding limit; larger fills stay an Expand node).
fn fill(c: &mut Call<'_>, dims: &[u64], dtype: DType, value: f64) -> Result<ValueId, IrError> {
    c.built_elements(dims, dtype)?;
    let s = c.konst(Tensor::from_f64_as(dtype, vec![], &[value]));
    if dims.is_empty() {
        return Ok(s);
    }
    c.add(
        Op::Expand(Expand {
            shape: dims.to_vec(),
        }),
        &[s],
    )
}

fn size_arg(c: &Call<'_>, i: usize) -> Result<Vec<u64>, IrError> {
    c.ints(i, "size")?
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| c.attr_err("a size is negative")))
        .collect()
}

/// The dtype of a fill value when no dtype is given.
fn dtype_of_fill(v: Option<&Val>) -> DType {
    match v {
        Some(Val::Bool(_)) => DType::Bool,
        Some(Val::Int(_)) => DType::I64,
        _ => DType::F32,
    }
}

fn zeros(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let d = size_arg(c, 0)?;
    let dt = c.opt_dtype(1, "dtype")?.unwrap_or(DType::F32);
    one(fill(c, &d, dt, 0.0)?)
}

fn ones(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let d = size_arg(c, 0)?;
    let dt = c.opt_dtype(1, "dtype")?.unwrap_or(DType::F32);
    one(fill(c, &d, dt, 1.0)?)
}

fn full(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let d = size_arg(c, 0)?;
    let v = c.float(1, "fill_value", 0.0)?;
    let dt = match c.opt_dtype(2, "dtype")? {
        Some(dt) => dt,
        None => dtype_of_fill(c.get(1, "fill_value")),
    };
    one(fill(c, &d, dt, v)?)
}

fn like(c: &mut Call<'_>, value: f64, dtype_at: usize) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let dt = c.opt_dtype(dtype_at, "dtype")?.unwrap_or(c.dtype(x));
    one(fill(c, &d, dt, value)?)
}

fn zeros_like(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    like(c, 0.0, 1)
}

fn ones_like(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    like(c, 1.0, 1)
}

fn full_like(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let v = c.float(1, "fill_value", 0.0)?;
    like(c, v, 2)
}

fn new_fill(c: &mut Call<'_>, value: Option<f64>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = size_arg(c, 1)?;
    let (v, dtype_at) = match value {
        Some(v) => (v, 2),
        None => (c.float(2, "fill_value", 0.0)?, 3),
    };
    let dt = c.opt_dtype(dtype_at, "dtype")?.unwrap_or(c.dtype(x));
    one(fill(c, &d, dt, v)?)
}

fn new_zeros(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    new_fill(c, Some(0.0))
}

fn new_ones(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    new_fill(c, Some(1.0))
}

fn new_full(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    new_fill(c, None)
}

fn scalar_tensor(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let v = c.float(0, "s", 0.0)?;
    let dt = c.opt_dtype(1, "dtype")?.unwrap_or(DType::F32);
    one(fill(c, &[], dt, v)?)
}

/// `arange(end)`, `arange(start, end)`, `arange(start, end, step)`.
fn arange(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let named = c.has(usize::MAX, "end");
    let (start, end, step) = if named {
        (
            c.get(usize::MAX, "start"),
            c.get(usize::MAX, "end"),
            c.get(usize::MAX, "step"),
        )
    } else {
        // TorchScript passes the numbers positionally (keywords after them).
        let n = (0..c.positional().min(3))
            .take_while(|&i| !matches!(c.get(i, ""), Some(Val::Device(_)) | None))
            .count();
        match n {
            1 => (None, c.get(0, ""), None),
            2 => (c.get(0, ""), c.get(1, ""), None),
            _ => (c.get(0, ""), c.get(1, ""), c.get(2, "")),
        }
    };
    let num = |v: Option<&Val>, d: f64| -> Result<f64, IrError> {
        match v {
            None => Ok(d),
            Some(Val::Int(i)) => Ok(*i as f64),
            Some(Val::Float(f)) => Ok(*f),
            Some(Val::Tensor(t)) => c
                .graph
                .const_value(*t)
                .filter(|t| t.num_elements() == 1)
                .map(|t| t.to_f64_vec()[0])
                .ok_or_else(|| c.not_constant("arange bound")),
            Some(other) => Err(c.attr_err(format!("arange bound is {}", other.kind()))),
        }
    };
    let is_float = |v: Option<&Val>| match v {
        Some(Val::Float(_)) => true,
        Some(Val::Tensor(t)) => c.dtype(*t).is_float(),
        _ => false,
    };
    let any_float = is_float(start) || is_float(end) || is_float(step);
    let (s, e, st) = (num(start, 0.0)?, num(end, 0.0)?, num(step, 1.0)?);
    if st == 0.0 || !s.is_finite() || !e.is_finite() || !st.is_finite() {
        return Err(c.attr_err(format!("arange({s}, {e}, {st}) is not a finite range")));
    }
    let n = ((e - s) / st).ceil().max(0.0) as u64;
    let dt = match c.opt_dtype(usize::MAX, "dtype")? {
        Some(d) => d,
        None if any_float => DType::F32,
        None => DType::I64,
    };
    let count = c.built_elements(&[n], dt)? as usize;
    let values: Vec<f64> = (0..count).map(|i| s + i as f64 * st).collect();
    one(c.konst(Tensor::from_f64_as(dt, vec![n], &values)))
}

/// The dtype argument of a `to` call, wherever its overload put it.
fn to_dtype(c: &Call<'_>) -> Result<Option<DType>, IrError> {
    if c.has(usize::MAX, "dtype") {
        return c.opt_dtype(usize::MAX, "dtype");
    }
    if let Some(Val::Tensor(o)) = c.get(1, "other") {
        return Ok(Some(c.dtype(*o)));
    }
    // to(self, dtype, ...) or to(self, device, dtype, ...)
    for i in 1..c.positional().min(3) {
        match c.get(i, "") {
            Some(Val::Int(_)) => return c.opt_dtype(i, ""),
            Some(Val::Device(_)) | Some(Val::Str(_)) | None => continue,
            Some(_) => break,
        }
    }
    Ok(None)
}

fn to(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    match to_dtype(c)? {
        Some(d) => one(c.cast(x, d)?),
        None => one(x),
    }
}

fn to_copy(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    match c.opt_dtype(1, "dtype")? {
        Some(d) => one(c.cast(x, d)?),
        None => one(x),
    }
}

fn type_as(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let o = c.tensor(1, "other")?;
    let d = c.dtype(o);
    one(c.cast(x, d)?)
}

fn size(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    match c.opt_int(1, "dim")? {
        Some(a) => {
            let axis = c.axis(a, d.len())?;
            Ok(vec![Val::Int(d[axis] as i64)])
        }
        None => Ok(vec![Val::List(
            d.iter().map(|&n| Val::Int(n as i64)).collect(),
        )]),
    }
}

fn dim(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    Ok(vec![Val::Int(c.rank(x) as i64)])
}

fn numel(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let n: u64 = c.dims(x)?.iter().product();
    Ok(vec![Val::Int(n as i64)])
}
