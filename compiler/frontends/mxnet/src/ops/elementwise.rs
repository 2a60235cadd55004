//! Elementwise ops: `elemwise_*` (equal shapes), `broadcast_*` (numpy broadcasting),
//! the `_*_scalar` forms (a `scalar` attribute as the other operand), unary math,
//! `clip`, `add_n`, `Cast` and the identities.

use super::{op, Ctx, MxOp};
use neoc_ir::ops::{BinaryOp, Cast, UnaryOp};
use neoc_ir::{DType, IrError, Op, ValueId};

pub(crate) const OPS: &[MxOp] = &[
    op("elemwise_add", add, ""),
    op("elemwise_sub", sub, ""),
    op("elemwise_mul", mul, ""),
    op("elemwise_div", div, ""),
    op("_Plus", add, "elemwise_add"),
    op("_Minus", sub, "elemwise_sub"),
    op("_Mul", mul, "elemwise_mul"),
    op("_Div", div, "elemwise_div"),
    op("broadcast_add", add, "numpy broadcasting"),
    op("broadcast_plus", add, "numpy broadcasting"),
    op("broadcast_sub", sub, ""),
    op("broadcast_minus", sub, ""),
    op("broadcast_mul", mul, ""),
    op("broadcast_div", div, ""),
    op("broadcast_maximum", maximum, ""),
    op("broadcast_minimum", minimum, ""),
    op("broadcast_power", power, ""),
    op("_plus_scalar", plus_scalar, ""),
    op("_minus_scalar", minus_scalar, ""),
    op("_rminus_scalar", rminus_scalar, "scalar - x"),
    op("_mul_scalar", mul_scalar, ""),
    op("_div_scalar", div_scalar, ""),
    op("_rdiv_scalar", rdiv_scalar, "scalar / x"),
    op("_maximum_scalar", maximum_scalar, ""),
    op("_minimum_scalar", minimum_scalar, ""),
    op("_power_scalar", power_scalar, ""),
    op("relu", relu, ""),
    op("sigmoid", sigmoid, ""),
    op("tanh", tanh, ""),
    op("exp", exp, ""),
    op("log", log, ""),
    op("sqrt", sqrt, ""),
    op("rsqrt", rsqrt, "Reciprocal(Sqrt)"),
    op("square", square, "x * x"),
    op("abs", abs, ""),
    op("negative", negative, ""),
    op("erf", erf, ""),
    op("softsign", softsign, "x / (1 + abs(x))"),
    op("clip", clip, "a_min, a_max"),
    op("add_n", add_n, "chain of Add"),
    op("ElementWiseSum", add_n, "chain of Add"),
    op("Cast", cast, "dtype"),
    op("_copy", identity, "no node"),
    op("identity", identity, "no node"),
    op("BlockGrad", identity, "no node"),
    op("stop_gradient", identity, "no node"),
];

fn binary(c: &mut Ctx<'_>, b: BinaryOp) -> Result<Vec<ValueId>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    Ok(vec![c.add(Op::Binary(b), vec![x, y])?])
}

fn add(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Add)
}
fn sub(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Sub)
}
fn mul(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Mul)
}
fn div(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Div)
}
fn maximum(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Max)
}
fn minimum(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Min)
}
fn power(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    binary(c, BinaryOp::Pow)
}

/// `x op scalar` (or `scalar op x` when `reversed`).
fn scalar_op(c: &mut Ctx<'_>, b: BinaryOp, reversed: bool) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let v = c.float("scalar", 0.0)?;
    let s = c.scalar(c.dtype(x), v);
    let ins = if reversed { vec![s, x] } else { vec![x, s] };
    Ok(vec![c.add(Op::Binary(b), ins)?])
}

fn plus_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Add, false)
}
fn minus_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Sub, false)
}
fn rminus_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Sub, true)
}
fn mul_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Mul, false)
}
fn div_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Div, false)
}
fn rdiv_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Div, true)
}
fn maximum_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Max, false)
}
fn minimum_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Min, false)
}
fn power_scalar(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    scalar_op(c, BinaryOp::Pow, false)
}

fn unary(c: &mut Ctx<'_>, u: UnaryOp) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    Ok(vec![c.add(Op::Unary(u), vec![x])?])
}

fn relu(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Relu)
}
fn sigmoid(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Sigmoid)
}
fn tanh(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Tanh)
}
fn exp(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Exp)
}
fn log(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Log)
}
fn sqrt(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Sqrt)
}
fn abs(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Abs)
}
fn negative(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Neg)
}
fn erf(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    unary(c, UnaryOp::Erf)
}
fn rsqrt(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let s = c.add(Op::Unary(UnaryOp::Sqrt), vec![x])?;
    Ok(vec![c.add(Op::Unary(UnaryOp::Reciprocal), vec![s])?])
}
fn square(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    Ok(vec![c.add(Op::Binary(BinaryOp::Mul), vec![x, x])?])
}
fn softsign(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    Ok(vec![super::nn::softsign(c, x)?])
}

fn clip(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let min = c.float("a_min", f64::NEG_INFINITY)? as f32;
    let max = c.float("a_max", f64::INFINITY)? as f32;
    unary(c, UnaryOp::Clip { min, max })
}

fn add_n(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let ins = c.inputs().to_vec();
    let Some((&first, rest)) = ins.split_first() else {
        return Err(c.err("needs at least one input"));
    };
    let mut acc = first;
    for &x in rest {
        acc = c.add(Op::Binary(BinaryOp::Add), vec![acc, x])?;
    }
    Ok(vec![acc])
}

fn cast(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let name = c.string("dtype", "float32");
    let to = match name.as_str() {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "uint8" => DType::U8,
        "int8" => DType::I8,
        "int32" => DType::I32,
        "int64" => DType::I64,
        "bool" => DType::Bool,
        d => return Err(c.attr_err(format!("dtype {d} is not supported"))),
    };
    if c.dtype(x) == to {
        return Ok(vec![x]);
    }
    Ok(vec![c.add(Op::Cast(Cast { to }), vec![x])?])
}

fn identity(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    Ok(vec![c.input(0)?])
}
