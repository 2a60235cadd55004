//! Elementwise ops: activations, arithmetic, comparisons, selection, BiasAdd, AddN,
//! Cast. All are layout-agnostic: they run on the NCHW form when an operand is held in
//! it (lower-rank operands are aligned to NCHW at import, see
//! [`Ctx::nchw_operand`]), otherwise on the plain form.

use super::{op, Ctx, TfOp};
use crate::value::{TensorId, Val};
use neoc_ir::ops::{BinaryOp, Cast, UnaryOp};
use neoc_ir::{DType, IrError, Op, ValueId};

pub(crate) const OPS: &[TfOp] = &[
    op("Relu", relu, ""),
    op("Relu6", relu6, "Clip(0, 6)"),
    op("Elu", elu, ""),
    op("Selu", selu, "Elu(alpha) * scale"),
    op("LeakyRelu", leaky_relu, "alpha default 0.2"),
    op("Sigmoid", sigmoid, ""),
    op("Tanh", tanh, ""),
    op("Softplus", softplus, ""),
    op("Exp", exp, ""),
    op("Log", log, ""),
    op("Sqrt", sqrt, ""),
    op("Rsqrt", rsqrt, "Reciprocal(Sqrt)"),
    op("Square", square, "x * x"),
    op("Reciprocal", reciprocal, ""),
    op("Inv", reciprocal, "Reciprocal"),
    op("Neg", neg, ""),
    op("Abs", abs, ""),
    op("Erf", erf, ""),
    op("Floor", floor, ""),
    op("Ceil", ceil, ""),
    op("Round", round, "half to even"),
    op("Add", add, "numpy broadcasting"),
    op("AddV2", add, "numpy broadcasting"),
    op("Sub", sub, ""),
    op("Mul", mul, ""),
    op("RealDiv", div, ""),
    op("Div", div, "integer division truncates"),
    op(
        "FloorDiv",
        floor_div,
        "floats: Floor(Div); integers: (a - FloorMod(a, b)) / b",
    ),
    op(
        "FloorMod",
        floor_mod,
        "integers: Mod; floats: a - Floor(a / b) * b",
    ),
    op("Maximum", maximum, ""),
    op("Minimum", minimum, ""),
    op("Pow", pow, ""),
    op("SquaredDifference", squared_difference, "(a - b) * (a - b)"),
    op("Less", less, ""),
    op("Greater", greater, ""),
    op("LessEqual", less_equal, "Not(Greater)"),
    op("GreaterEqual", greater_equal, "Not(Less)"),
    op("Equal", equal, ""),
    op("NotEqual", not_equal, "Not(Equal)"),
    op("LogicalAnd", logical_and, "Where(a, b, false)"),
    op("LogicalOr", logical_or, "Where(a, true, b)"),
    op("LogicalNot", logical_not, "Equal(x, false)"),
    op("SelectV2", select_v2, "Where, numpy broadcasting"),
    op("Select", select, "Where; a rank-1 condition selects rows"),
    op("AddN", add_n, "chain of Add"),
    op("BiasAdd", bias_add, "NHWC or NCHW"),
    op("BiasAddV1", bias_add, "as BiasAdd"),
    op("Cast", cast, ""),
];

/// Runs `build` on the operands in one layout and wraps the result: NCHW when the
/// result has rank 4, no operand has a higher rank, and some rank-4 operand is held in
/// NCHW; plain otherwise.
pub(crate) fn layout_map(
    c: &mut Ctx<'_>,
    ts: &[TensorId],
    build: impl FnOnce(&mut Ctx<'_>, Vec<ValueId>) -> Result<ValueId, IrError>,
) -> Result<Val, IrError> {
    let mut max_rank = 0;
    let mut any_nchw = false;
    for &t in ts {
        let r = c.rank(t)?;
        max_rank = max_rank.max(r);
        any_nchw |= r == 4 && c.has_nchw(t);
    }
    if max_rank == 4 && any_nchw {
        let vs = ts
            .iter()
            .map(|&t| c.nchw_operand(t))
            .collect::<Result<Vec<_>, _>>()?;
        let v = build(c, vs)?;
        Ok(c.nchw_out(v))
    } else {
        let vs = ts
            .iter()
            .map(|&t| c.plain(t))
            .collect::<Result<Vec<_>, _>>()?;
        let v = build(c, vs)?;
        Ok(c.plain_out(v))
    }
}

fn unary(c: &mut Ctx<'_>, u: UnaryOp) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    Ok(vec![layout_map(c, &[x], |c, v| c.add(Op::Unary(u), v))?])
}

fn binary(c: &mut Ctx<'_>, b: BinaryOp) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    Ok(vec![layout_map(c, &[x, y], |c, v| {
        c.add(Op::Binary(b), v)
    })?])
}

fn relu(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Relu)
}
fn relu6(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Clip { min: 0.0, max: 6.0 })
}
fn elu(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Elu { alpha: 1.0 })
}
fn selu(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    // TF's constants (tf.nn.selu).
    const ALPHA: f64 = 1.673_263_242_354_377_3;
    const SCALE: f64 = 1.050_700_987_355_480_5;
    let x = c.input(0)?;
    let dtype = c.dtype(x)?;
    let out = layout_map(c, &[x], |c, v| {
        let e = c.add(
            Op::Unary(UnaryOp::Elu {
                alpha: ALPHA as f32,
            }),
            v,
        )?;
        let s = c.scalar(dtype, SCALE);
        c.add(Op::Binary(BinaryOp::Mul), vec![e, s])
    })?;
    Ok(vec![out])
}
fn leaky_relu(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let alpha = c.attr_f("alpha", 0.2);
    unary(c, UnaryOp::LeakyRelu { alpha })
}
fn sigmoid(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Sigmoid)
}
fn tanh(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Tanh)
}
fn softplus(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Softplus)
}
fn exp(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Exp)
}
fn log(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Log)
}
fn sqrt(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Sqrt)
}
fn rsqrt(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let out = layout_map(c, &[x], |c, v| {
        let s = c.add(Op::Unary(UnaryOp::Sqrt), v)?;
        c.add(Op::Unary(UnaryOp::Reciprocal), vec![s])
    })?;
    Ok(vec![out])
}
fn square(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let out = layout_map(c, &[x], |c, v| {
        c.add(Op::Binary(BinaryOp::Mul), vec![v[0], v[0]])
    })?;
    Ok(vec![out])
}
fn reciprocal(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Reciprocal)
}
fn neg(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Neg)
}
fn abs(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Abs)
}
fn erf(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Erf)
}
fn floor(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Floor)
}
fn ceil(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Ceil)
}
fn round(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    unary(c, UnaryOp::Round)
}

fn add(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Add)
}
fn sub(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Sub)
}
fn mul(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Mul)
}
fn div(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Div)
}
fn maximum(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Max)
}
fn minimum(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Min)
}
fn pow(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Pow)
}
fn less(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Less)
}
fn greater(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Greater)
}
fn equal(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    binary(c, BinaryOp::Equal)
}

/// `Equal(v, false)`: logical not of a bool value.
fn not(c: &mut Ctx<'_>, v: ValueId) -> Result<ValueId, IrError> {
    let f = c.scalar(DType::Bool, 0.0);
    c.add(Op::Binary(BinaryOp::Equal), vec![v, f])
}

fn negated(c: &mut Ctx<'_>, b: BinaryOp) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let out = layout_map(c, &[x, y], |c, v| {
        let r = c.add(Op::Binary(b), v)?;
        not(c, r)
    })?;
    Ok(vec![out])
}
fn less_equal(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    negated(c, BinaryOp::Greater)
}
fn greater_equal(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    negated(c, BinaryOp::Less)
}
fn not_equal(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    negated(c, BinaryOp::Equal)
}

fn logical_not(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    Ok(vec![layout_map(c, &[x], |c, v| not(c, v[0]))?])
}
fn logical_and(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let out = layout_map(c, &[x, y], |c, v| {
        let f = c.scalar(DType::Bool, 0.0);
        c.add(Op::Where, vec![v[0], v[1], f])
    })?;
    Ok(vec![out])
}
fn logical_or(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let out = layout_map(c, &[x, y], |c, v| {
        let t = c.scalar(DType::Bool, 1.0);
        c.add(Op::Where, vec![v[0], t, v[1]])
    })?;
    Ok(vec![out])
}

fn squared_difference(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let out = layout_map(c, &[x, y], |c, v| {
        let d = c.add(Op::Binary(BinaryOp::Sub), v)?;
        c.add(Op::Binary(BinaryOp::Mul), vec![d, d])
    })?;
    Ok(vec![out])
}

fn floor_mod(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let int = c.dtype(x)?.is_int();
    let out = layout_map(c, &[x, y], |c, v| floor_mod_of(c, v[0], v[1], int))?;
    Ok(vec![out])
}

/// Python's `a % b` (the sign of the divisor).
fn floor_mod_of(c: &mut Ctx<'_>, a: ValueId, b: ValueId, int: bool) -> Result<ValueId, IrError> {
    if int {
        return c.add(Op::Binary(BinaryOp::Mod), vec![a, b]);
    }
    let q = c.add(Op::Binary(BinaryOp::Div), vec![a, b])?;
    let f = c.add(Op::Unary(UnaryOp::Floor), vec![q])?;
    let m = c.add(Op::Binary(BinaryOp::Mul), vec![f, b])?;
    c.add(Op::Binary(BinaryOp::Sub), vec![a, m])
}

fn floor_div(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (x, y) = (c.input(0)?, c.input(1)?);
    let int = c.dtype(x)?.is_int();
    let out = layout_map(c, &[x, y], |c, v| {
        if int {
            // a - (a mod b) is a multiple of b, so the truncating division is exact.
            let m = floor_mod_of(c, v[0], v[1], true)?;
            let d = c.add(Op::Binary(BinaryOp::Sub), vec![v[0], m])?;
            c.add(Op::Binary(BinaryOp::Div), vec![d, v[1]])
        } else {
            let q = c.add(Op::Binary(BinaryOp::Div), v)?;
            c.add(Op::Unary(UnaryOp::Floor), vec![q])
        }
    })?;
    Ok(vec![out])
}

fn select_v2(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (k, x, y) = (c.input(0)?, c.input(1)?, c.input(2)?);
    Ok(vec![layout_map(c, &[k, x, y], |c, v| c.add(Op::Where, v))?])
}

/// TF1 `Select`: the condition has the operands' shape, is a scalar, or (rank 1) picks
/// whole rows of the first dimension.
fn select(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (k, x, y) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let (kd, xd) = (c.dims(k)?, c.dims(x)?);
    if kd.len() == 1 && xd.len() > 1 {
        let mut shape = kd.clone();
        shape.resize(xd.len(), 1);
        let kv = c.plain(k)?;
        let kr = c.reshape(kv, shape)?;
        let (xv, yv) = (c.plain(x)?, c.plain(y)?);
        let w = c.add(Op::Where, vec![kr, xv, yv])?;
        return Ok(vec![c.plain_out(w)]);
    }
    select_v2(c)
}

fn add_n(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let ts = (0..c.n_inputs())
        .map(|i| c.input(i))
        .collect::<Result<Vec<_>, _>>()?;
    if ts.is_empty() {
        return Err(c.err("AddN needs at least one input"));
    }
    let out = layout_map(c, &ts, |c, v| {
        let mut acc = v[0];
        for &x in &v[1..] {
            acc = c.add(Op::Binary(BinaryOp::Add), vec![acc, x])?;
        }
        Ok(acc)
    })?;
    Ok(vec![out])
}

/// `value + bias` along the channel dim (last for NHWC, 1 for NCHW).
fn bias_add(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (x, b) = (c.input(0)?, c.input(1)?);
    let (xd, bd) = (c.dims(x)?, c.dims(b)?);
    if bd.len() != 1 {
        return Err(c.err(format!("bias must be 1-D, got {bd:?}")));
    }
    let channels_last = c.channels_last()? || c.op() == "BiasAddV1";
    let rank = xd.len();
    if rank < 2 {
        return Err(c.err(format!("value must have rank 2 or more, got {xd:?}")));
    }
    let bv = c.plain(b)?;
    if channels_last && rank == 4 && c.has_nchw(x) {
        let xv = c.nchw(x)?;
        let br = c.reshape(bv, vec![bd[0], 1, 1])?;
        let v = c.add(Op::Binary(BinaryOp::Add), vec![xv, br])?;
        return Ok(vec![c.nchw_out(v)]);
    }
    let xv = c.plain(x)?;
    let br = if channels_last {
        bv
    } else {
        let mut shape = vec![bd[0]];
        shape.resize(rank - 1, 1);
        c.reshape(bv, shape)?
    };
    let v = c.add(Op::Binary(BinaryOp::Add), vec![xv, br])?;
    Ok(vec![c.plain_out(v)])
}

fn cast(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let to = c.attr_dtype("DstT", DType::F32)?;
    let from = c.dtype(x)?;
    if from == to {
        return Ok(vec![Val::Tensor(x)]);
    }
    Ok(vec![layout_map(c, &[x], |c, v| {
        c.add(Op::Cast(Cast { to }), v)
    })?])
}
