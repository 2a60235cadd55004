//! Constants and shape ops: `Const`, `Shape`/`Size`/`Rank` (folded: shapes are
//! static), `Fill`, `Range`, `ZerosLike`/`OnesLike`, `BroadcastTo`, and the value
//! sources `ReadVariableOp` and `PlaceholderWithDefault`.

use super::ctx::MAX_BUILT_BYTES;
use super::{op, Ctx, TfOp};
use crate::value::Val;
use neoc_ir::ops::Expand;
use neoc_ir::{DType, IrError, Op, Tensor};

pub(crate) const OPS: &[TfOp] = &[
    op(
        "Const",
        konst,
        "an IR constant (tensor_content is not copied)",
    ),
    op(
        "ReadVariableOp",
        read_variable,
        "the variable's checkpoint value",
    ),
    op(
        "PlaceholderWithDefault",
        with_default,
        "its default, unless it is a signature input",
    ),
    op(
        "Shape",
        shape,
        "a constant; out_type int32 (default) or int64",
    ),
    op("Size", size, "a constant"),
    op("Rank", rank, "a constant"),
    op("Fill", fill, "dims constant; Expand of the value"),
    op("ZerosLike", zeros_like, "a constant"),
    op("OnesLike", ones_like, "a constant"),
    op("BroadcastTo", broadcast_to, "shape constant; Expand"),
    op("Range", range, "start, limit, delta constant; a constant"),
];

fn konst(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let t = crate::attrs::get(c.node, "value")
        .and_then(|a| a.tensor.as_ref())
        .ok_or_else(|| c.attr_err("attribute `value` (a tensor) is missing"))?;
    let t = crate::tensor::decode(t).map_err(|m| c.attr_err(format!("value: {m}")))?;
    let v = c.g.add_const(c.node.name.clone(), t);
    Ok(vec![c.plain_out(v)])
}

fn read_variable(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    match c.val(0)? {
        Val::Resource(v) => Ok(vec![c.plain_out(v)]),
        Val::Tensor(_) => Err(c.err("reads a tensor, not a variable handle")),
    }
}

fn with_default(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    Ok(vec![c.val(0)?])
}

fn int_const(c: &mut Ctx<'_>, dtype: DType, shape: Vec<u64>, v: &[i64]) -> Val {
    let t = Tensor::from_f64_as(
        dtype,
        shape,
        &v.iter().map(|&x| x as f64).collect::<Vec<_>>(),
    );
    let v = c.constant(t);
    c.plain_out(v)
}

fn shape(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d: Vec<i64> = c.dims(x)?.iter().map(|&n| n as i64).collect();
    let dtype = c.attr_dtype("out_type", DType::I32)?;
    Ok(vec![int_const(c, dtype, vec![d.len() as u64], &d)])
}

fn size(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let n: u64 = c.dims(x)?.iter().product();
    let dtype = c.attr_dtype("out_type", DType::I32)?;
    Ok(vec![int_const(c, dtype, vec![], &[n as i64])])
}

fn rank(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let r = c.rank(x)? as i64;
    Ok(vec![int_const(c, DType::I32, vec![], &[r])])
}

/// A checked output shape from constant input `i`.
fn shape_input(c: &mut Ctx<'_>, i: usize, what: &str) -> Result<Vec<u64>, IrError> {
    let d = c.const_ints(i, what)?;
    let d = d
        .iter()
        .map(|&n| u64::try_from(n).map_err(|_| c.err(format!("{what} {d:?} has a negative dim"))))
        .collect::<Result<Vec<_>, _>>()?;
    if neoc_ir::shape::checked_elements(&d).is_none() {
        return Err(c.err(format!("{what} {d:?} is too large")));
    }
    Ok(d)
}

fn expand_to(c: &mut Ctx<'_>, x: neoc_ir::ValueId, shape: Vec<u64>) -> Result<Vec<Val>, IrError> {
    let v = c.add(Op::Expand(Expand { shape }), vec![x])?;
    Ok(vec![c.plain_out(v)])
}

fn fill(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let d = shape_input(c, 0, "dims")?;
    let x = c.input(1)?;
    let v = c.plain(x)?;
    expand_to(c, v, d)
}

fn broadcast_to(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = shape_input(c, 1, "shape")?;
    let v = c.plain(x)?;
    expand_to(c, v, d)
}

fn filled_like(c: &mut Ctx<'_>, value: f64) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let ty = c.ty(x)?;
    let d = c.dims(x)?;
    let s = c.scalar(ty.dtype, value);
    expand_to(c, s, d)
}

fn zeros_like(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    filled_like(c, 0.0)
}

fn ones_like(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    filled_like(c, 1.0)
}

fn range(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let mut ends = [0f64; 3];
    let mut dtype = DType::I32;
    for (i, e) in ends.iter_mut().enumerate() {
        let t = c.input(i)?;
        let k = c
            .konst(t)
            .ok_or_else(|| c.not_constant(["start", "limit", "delta"][i]))?;
        dtype = k.dtype;
        *e = k.to_f64_vec().first().copied().unwrap_or(0.0);
    }
    let [start, limit, delta] = ends;
    if delta == 0.0 || !delta.is_finite() {
        return Err(c.err("delta must be a finite non-zero number"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n * dtype.size_bytes() as f64 > MAX_BUILT_BYTES as f64 {
        return Err(c.err("the range is too large"));
    }
    let v: Vec<f64> = (0..n as u64).map(|i| start + i as f64 * delta).collect();
    let t = Tensor::from_f64_as(dtype, vec![v.len() as u64], &v);
    let out = c.constant(t);
    Ok(vec![c.plain_out(out)])
}
