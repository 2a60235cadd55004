//! Elementwise aten operators: activations, arithmetic with torch's type promotion,
//! comparisons, logical ops, `where`, `clamp`, `masked_fill`.
//!
//! Composite activations are desugared into IR ops that the fusion passes recognise
//! (SiLU as `x * sigmoid(x)`, Mish, softplus with `beta`/`threshold`, rsqrt). Type
//! promotion follows torch: categories bool < int < float; a zero-dim tensor or a
//! Python number only raises the category (to the default `float32`/`int64`), never the
//! width of a dimensioned tensor's dtype; true division of integers gives `float32`.

use super::call::{Call, Operand};
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::elementwise::TrigFn;
use neoc_ir::ops::{BinaryOp, UnaryOp};
use neoc_ir::{DType, IrError, Op, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op("relu", relu, ""),
    op("sigmoid", sigmoid, ""),
    op("tanh", tanh, ""),
    op("exp", exp, ""),
    op("log", log, ""),
    op("sqrt", sqrt, ""),
    op("rsqrt", rsqrt, "Reciprocal(Sqrt)"),
    op("reciprocal", reciprocal, ""),
    op("log1p", log1p, "Kahan's log(u)·x/(u−1), u = 1 + x"),
    op("expm1", expm1, "Kahan's (u−1)·x/log(u), u = exp(x)"),
    op("abs", abs, ""),
    op("neg", neg, ""),
    op("erf", erf, ""),
    op("floor", floor, ""),
    op("ceil", ceil, ""),
    op("round", round, "half to even; decimals=0 only"),
    op("sin", sin, ""),
    op("cos", cos, ""),
    op("gelu", gelu, "approximate none or tanh"),
    op("silu", silu, "x * sigmoid(x)"),
    op("mish", mish, "x * tanh(softplus(x))"),
    op("hardswish", hardswish, ""),
    op("hardsigmoid", hardsigmoid, ""),
    op("hardtanh", hardtanh, "Clip"),
    op("relu6", relu6, "Clip(0, 6)"),
    op("leaky_relu", leaky_relu, ""),
    op("elu", elu, "scale and input_scale as multiplications"),
    op("softplus", softplus, "beta and threshold"),
    op(
        "clamp",
        clamp,
        "scalar bounds: Clip; tensor bounds: Max/Min",
    ),
    op("clamp_min", clamp_min, ""),
    op("clamp_max", clamp_max, ""),
    op("add", add, "alpha"),
    op("sub", sub, "alpha"),
    op("rsub", rsub, "other - alpha * self"),
    op("mul", mul, ""),
    op("div", div, "rounding_mode none, trunc, floor"),
    op("floor_divide", floor_divide, ""),
    op("remainder", remainder, "sign of the divisor"),
    op("fmod", fmod, "sign of the dividend"),
    op("pow", pow, ""),
    op("maximum", maximum, "NaN-propagating"),
    op("minimum", minimum, "NaN-propagating"),
    op("eq", eq, ""),
    op("ne", ne, ""),
    op("lt", lt, ""),
    op("le", le, ""),
    op("gt", gt, ""),
    op("ge", ge, ""),
    op("logical_not", logical_not, ""),
    op("logical_and", logical_and, ""),
    op("logical_or", logical_or, ""),
    op("logical_xor", logical_xor, ""),
    op(
        "bitwise_not",
        bitwise_not,
        "bool: logical not; ints: BitwiseNot",
    ),
    op(
        "bitwise_and",
        bitwise_and,
        "bool: logical and; ints: BitwiseAnd",
    ),
    op(
        "bitwise_or",
        bitwise_or,
        "bool: logical or; ints: BitwiseOr",
    ),
    op(
        "bitwise_xor",
        bitwise_xor,
        "bool: logical xor; ints: BitwiseXor",
    ),
    op("where", where_, "scalar or tensor branches, promoted"),
    op("masked_fill", masked_fill, "Where(mask, value, self)"),
];

fn one(v: ValueId) -> Result<Vec<Val>, IrError> {
    Ok(vec![Val::Tensor(v)])
}

/// A float unary function of `self` (integers are refused by the IR).
fn simple(c: &mut Call<'_>, f: UnaryOp) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    one(c.unary(f, x)?)
}

fn relu(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Relu)
}
fn sigmoid(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Sigmoid)
}
fn tanh(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Tanh)
}
fn exp(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Exp)
}
fn log(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Log)
}
fn sqrt(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Sqrt)
}
fn reciprocal(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Reciprocal)
}
fn abs(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Abs)
}
fn neg(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Neg)
}
fn erf(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Erf)
}
fn floor(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Floor)
}
fn ceil(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Ceil)
}
fn sin(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Trig(TrigFn::Sin))
}
fn cos(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::Trig(TrigFn::Cos))
}
fn hardswish(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(c, UnaryOp::HardSwish)
}

fn hardsigmoid(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    simple(
        c,
        UnaryOp::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        },
    )
}

fn rsqrt(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let s = c.unary(UnaryOp::Sqrt, x)?;
    one(c.unary(UnaryOp::Reciprocal, s)?)
}

/// `log(1 + x)` accurate for small `x`: with `u = 1 + x` rounded, `log(u)·x/(u − 1)`
/// (and `x` itself where `u == 1`).
fn log1p(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let u = c.binary_scalar(BinaryOp::Add, x, 1.0)?;
    let d = c.binary_scalar(BinaryOp::Sub, u, 1.0)?;
    let l = c.unary(UnaryOp::Log, u)?;
    let lx = c.binary(BinaryOp::Mul, l, x)?;
    let q = c.binary(BinaryOp::Div, lx, d)?;
    let tiny = c.binary_scalar(BinaryOp::Equal, d, 0.0)?;
    one(c.add(Op::Where, &[tiny, x, q])?)
}

/// `exp(x) − 1` accurate for small `x`: with `u = exp(x)`, `(u − 1)·x/log(u)` (and `x`
/// where `u == 1`, `−1` where `u − 1 == −1`).
fn expm1(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let u = c.unary(UnaryOp::Exp, x)?;
    let d = c.binary_scalar(BinaryOp::Sub, u, 1.0)?;
    let l = c.unary(UnaryOp::Log, u)?;
    let dx = c.binary(BinaryOp::Mul, d, x)?;
    let q = c.binary(BinaryOp::Div, dx, l)?;
    let one_ = c.binary_scalar(BinaryOp::Equal, u, 1.0)?;
    let r = c.add(Op::Where, &[one_, x, q])?;
    let m1 = c.binary_scalar(BinaryOp::Equal, d, -1.0)?;
    let neg = c.scalar(c.dtype(x), -1.0);
    one(c.add(Op::Where, &[m1, neg, r])?)
}

fn round(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    if c.int(1, "decimals", 0)? != 0 {
        return Err(c.attr_err("round with decimals is not supported"));
    }
    simple(c, UnaryOp::Round)
}

fn gelu(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let tanh = match c.string(1, "approximate", "none")?.as_str() {
        "none" => false,
        "tanh" => true,
        other => return Err(c.attr_err(format!("gelu approximate=`{other}` is unknown"))),
    };
    simple(c, UnaryOp::Gelu { tanh })
}

fn silu(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let s = c.unary(UnaryOp::Sigmoid, x)?;
    one(c.binary(BinaryOp::Mul, x, s)?)
}

fn mish(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let sp = c.unary(UnaryOp::Softplus, x)?;
    let t = c.unary(UnaryOp::Tanh, sp)?;
    one(c.binary(BinaryOp::Mul, x, t)?)
}

fn clip(c: &mut Call<'_>, min: f64, max: f64) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    if c.dtype(x).is_float() {
        return one(c.unary(
            UnaryOp::Clip {
                min: min as f32,
                max: max as f32,
            },
            x,
        )?);
    }
    // Integer tensors: Max/Min with constants of their own type.
    let mut y = x;
    if min.is_finite() {
        y = c.binary_scalar(BinaryOp::Max, y, min)?;
    }
    if max.is_finite() {
        y = c.binary_scalar(BinaryOp::Min, y, max)?;
    }
    one(y)
}

fn hardtanh(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let min = c.float(1, "min_val", -1.0)?;
    let max = c.float(2, "max_val", 1.0)?;
    clip(c, min, max)
}

fn relu6(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    clip(c, 0.0, 6.0)
}

fn leaky_relu(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let alpha = c.float(1, "negative_slope", 0.01)? as f32;
    simple(c, UnaryOp::LeakyRelu { alpha })
}

fn elu(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let alpha = c.float(1, "alpha", 1.0)? as f32;
    let scale = c.float(2, "scale", 1.0)?;
    let input_scale = c.float(3, "input_scale", 1.0)?;
    let mut y = x;
    if input_scale != 1.0 {
        y = c.binary_scalar(BinaryOp::Mul, y, input_scale)?;
    }
    y = c.unary(UnaryOp::Elu { alpha }, y)?;
    if scale != 1.0 {
        y = c.binary_scalar(BinaryOp::Mul, y, scale)?;
    }
    one(y)
}

/// `softplus(x; beta, threshold) = x` where `beta·x > threshold`, else
/// `log(1 + exp(beta·x)) / beta`.
fn softplus(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let beta = c.float(1, "beta", 1.0)?;
    let threshold = c.float(2, "threshold", 20.0)?;
    let bx = if beta == 1.0 {
        x
    } else {
        c.binary_scalar(BinaryOp::Mul, x, beta)?
    };
    let mut sp = c.unary(UnaryOp::Softplus, bx)?;
    if beta != 1.0 {
        sp = c.binary_scalar(BinaryOp::Div, sp, beta)?;
    }
    let big = c.binary_scalar(BinaryOp::Greater, bx, threshold)?;
    one(c.add(Op::Where, &[big, x, sp])?)
}

fn clamp(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let tensor_bound = |v: Option<&Val>| matches!(v, Some(Val::Tensor(_)));
    if tensor_bound(c.get(1, "min")) || tensor_bound(c.get(2, "max")) {
        let mut y = c.tensor(0, "self")?;
        if c.has(1, "min") {
            let lo = c.operand(1, "min")?;
            y = binary_promoted(c, BinaryOp::Max, Operand::Tensor(y), lo)?;
        }
        if c.has(2, "max") {
            let hi = c.operand(2, "max")?;
            y = binary_promoted(c, BinaryOp::Min, Operand::Tensor(y), hi)?;
        }
        return one(y);
    }
    let min = c.opt_float(1, "min")?.unwrap_or(f64::NEG_INFINITY);
    let max = c.opt_float(2, "max")?.unwrap_or(f64::INFINITY);
    clip(c, min, max)
}

fn clamp_min(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.operand(0, "self")?;
    let lo = c.operand(1, "min")?;
    one(binary_promoted(c, BinaryOp::Max, x, lo)?)
}

fn clamp_max(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.operand(0, "self")?;
    let hi = c.operand(1, "max")?;
    one(binary_promoted(c, BinaryOp::Min, x, hi)?)
}

// ---- type promotion -----------------------------------------------------------------

fn category(d: DType) -> u8 {
    if d == DType::Bool {
        0
    } else if d.is_float() {
        2
    } else {
        1
    }
}

/// The default dtype of a category (what a Python number of it becomes).
fn default_of(cat: u8) -> DType {
    match cat {
        0 => DType::Bool,
        1 => DType::I64,
        _ => DType::F32,
    }
}

/// `torch.promote_types` of two dtypes of equal priority.
fn promote_types(a: DType, b: DType) -> DType {
    if a == b {
        return a;
    }
    let (ca, cb) = (category(a), category(b));
    if ca != cb {
        return if ca > cb { a } else { b };
    }
    if matches!(
        (a, b),
        (DType::F16, DType::BF16) | (DType::BF16, DType::F16)
    ) {
        return DType::F32;
    }
    if a.size_bytes() >= b.size_bytes() {
        a
    } else {
        b
    }
}

/// How strongly an operand's dtype takes part in promotion: dimensioned tensors (2)
/// over zero-dim tensors (1) over Python numbers (0).
fn priority(c: &Call<'_>, x: Operand) -> (u8, DType) {
    match x {
        Operand::Tensor(t) => (u8::from(c.rank(t) > 0) + 1, c.dtype(t)),
        Operand::Int(_) => (0, DType::I64),
        Operand::Float(_) => (0, DType::F32),
        Operand::Bool(_) => (0, DType::Bool),
    }
}

/// The dtype torch computes `a op b` in.
pub(crate) fn result_type(c: &Call<'_>, operands: &[Operand]) -> DType {
    let mut best: Option<(u8, DType)> = None;
    for &x in operands {
        let (p, d) = priority(c, x);
        best = Some(match best {
            None => (p, d),
            Some((bp, bd)) if p == bp => (p, promote_types(bd, d)),
            Some((bp, bd)) => {
                let (hp, hd, ld) = if p > bp { (p, d, bd) } else { (bp, bd, d) };
                if category(ld) > category(hd) {
                    (hp, default_of(category(ld)))
                } else {
                    (hp, hd)
                }
            }
        });
    }
    best.map(|(_, d)| d).unwrap_or(DType::F32)
}

/// Both operands as IR values of dtype `to`.
pub(crate) fn coerce(c: &mut Call<'_>, xs: &[Operand], to: DType) -> Result<Vec<ValueId>, IrError> {
    xs.iter()
        .map(|&x| {
            let v = c.materialize(x, Some(to));
            c.cast(v, to)
        })
        .collect()
}

/// `a op b` after torch's type promotion.
pub(crate) fn binary_promoted(
    c: &mut Call<'_>,
    op: BinaryOp,
    a: Operand,
    b: Operand,
) -> Result<ValueId, IrError> {
    let to = result_type(c, &[a, b]);
    let v = coerce(c, &[a, b], to)?;
    c.binary(op, v[0], v[1])
}

fn binary_of(c: &mut Call<'_>, op: BinaryOp) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    one(binary_promoted(c, op, a, b)?)
}

fn add_sub(c: &mut Call<'_>, op: BinaryOp, reverse: bool) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    let alpha = c.float(2, "alpha", 1.0)?;
    let (x, y) = if reverse { (b, a) } else { (a, b) };
    let to = result_type(c, &[x, y]);
    let v = coerce(c, &[x, y], to)?;
    let y = if alpha == 1.0 {
        v[1]
    } else {
        c.binary_scalar(BinaryOp::Mul, v[1], alpha)?
    };
    one(c.binary(op, v[0], y)?)
}

fn add(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    add_sub(c, BinaryOp::Add, false)
}
fn sub(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    add_sub(c, BinaryOp::Sub, false)
}
fn rsub(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    add_sub(c, BinaryOp::Sub, true)
}
fn mul(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    binary_of(c, BinaryOp::Mul)
}
fn maximum(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    binary_of(c, BinaryOp::Max)
}
fn minimum(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    binary_of(c, BinaryOp::Min)
}
fn fmod(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    binary_of(c, BinaryOp::Fmod)
}

fn remainder(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    let to = result_type(c, &[a, b]);
    let v = coerce(c, &[a, b], to)?;
    one(modulo(c, v[0], v[1])?)
}

/// Python's `a % b` (the sign of the divisor) for ints and floats.
fn modulo(c: &mut Call<'_>, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
    if !c.dtype(a).is_float() {
        return c.binary(BinaryOp::Mod, a, b);
    }
    // a - floor(a / b) * b
    let q = c.binary(BinaryOp::Div, a, b)?;
    let q = c.unary(UnaryOp::Floor, q)?;
    let p = c.binary(BinaryOp::Mul, q, b)?;
    c.binary(BinaryOp::Sub, a, p)
}

/// `floor(a / b)` for ints and floats.
fn floor_div_values(c: &mut Call<'_>, a: ValueId, b: ValueId) -> Result<ValueId, IrError> {
    if c.dtype(a).is_float() {
        let q = c.binary(BinaryOp::Div, a, b)?;
        return c.unary(UnaryOp::Floor, q);
    }
    // (a - a mod b) / b divides exactly, so the truncating IR Div is the floor.
    let m = c.binary(BinaryOp::Mod, a, b)?;
    let d = c.binary(BinaryOp::Sub, a, m)?;
    c.binary(BinaryOp::Div, d, b)
}

fn div(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    let mode = match c.get(2, "rounding_mode") {
        Some(Val::Str(s)) => s.clone(),
        _ => "none".to_string(),
    };
    let to = result_type(c, &[a, b]);
    match mode.as_str() {
        "none" => {
            let to = if to.is_float() { to } else { DType::F32 };
            let v = coerce(c, &[a, b], to)?;
            one(c.binary(BinaryOp::Div, v[0], v[1])?)
        }
        "trunc" => {
            let v = coerce(c, &[a, b], to)?;
            let q = c.binary(BinaryOp::Div, v[0], v[1])?;
            if !to.is_float() {
                return one(q);
            }
            let neg = c.binary_scalar(BinaryOp::Less, q, 0.0)?;
            let up = c.unary(UnaryOp::Ceil, q)?;
            let down = c.unary(UnaryOp::Floor, q)?;
            one(c.add(Op::Where, &[neg, up, down])?)
        }
        "floor" => {
            let v = coerce(c, &[a, b], to)?;
            one(floor_div_values(c, v[0], v[1])?)
        }
        other => Err(c.attr_err(format!("rounding_mode `{other}` is unknown"))),
    }
}

fn floor_divide(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    let to = result_type(c, &[a, b]);
    let v = coerce(c, &[a, b], to)?;
    one(floor_div_values(c, v[0], v[1])?)
}

fn pow(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "exponent")?;
    if let (Operand::Tensor(x), Some(e)) = (
        a,
        match b {
            Operand::Int(i) => Some(i as f64),
            Operand::Float(f) => Some(f),
            _ => None,
        },
    ) {
        if e == 2.0 {
            return one(c.binary(BinaryOp::Mul, x, x)?);
        }
        if e == 1.0 {
            return one(x);
        }
        if e == 0.5 && c.dtype(x).is_float() {
            return one(c.unary(UnaryOp::Sqrt, x)?);
        }
    }
    one(binary_promoted(c, BinaryOp::Pow, a, b)?)
}

// ---- comparisons and logic ----------------------------------------------------------

fn compare(c: &mut Call<'_>, op: BinaryOp, negate: bool) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    let r = binary_promoted(c, op, a, b)?;
    if negate {
        return one(not(c, r)?);
    }
    one(r)
}

/// `a op b or a == b` (keeps NaN comparisons false).
fn compare_or_equal(c: &mut Call<'_>, op: BinaryOp) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    let to = result_type(c, &[a, b]);
    let v = coerce(c, &[a, b], to)?;
    let strict = c.binary(op, v[0], v[1])?;
    let eq = c.binary(BinaryOp::Equal, v[0], v[1])?;
    let t = c.scalar(DType::Bool, 1.0);
    one(c.add(Op::Where, &[strict, t, eq])?)
}

fn eq(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    compare(c, BinaryOp::Equal, false)
}
fn ne(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    compare(c, BinaryOp::Equal, true)
}
fn lt(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    compare(c, BinaryOp::Less, false)
}
fn gt(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    compare(c, BinaryOp::Greater, false)
}
fn le(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    compare_or_equal(c, BinaryOp::Less)
}
fn ge(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    compare_or_equal(c, BinaryOp::Greater)
}

/// `x` as bool (non-zero is true).
pub(crate) fn truthy(c: &mut Call<'_>, x: ValueId) -> Result<ValueId, IrError> {
    if c.dtype(x) == DType::Bool {
        return Ok(x);
    }
    let z = c.binary_scalar(BinaryOp::Equal, x, 0.0)?;
    not(c, z)
}

/// Logical negation of a bool tensor.
pub(crate) fn not(c: &mut Call<'_>, x: ValueId) -> Result<ValueId, IrError> {
    let f = c.scalar(DType::Bool, 0.0);
    c.binary(BinaryOp::Equal, x, f)
}

fn logical_not(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let b = truthy(c, x)?;
    one(not(c, b)?)
}

fn logical(c: &mut Call<'_>, kind: u8) -> Result<Vec<Val>, IrError> {
    let a = c.tensor(0, "self")?;
    let b = c.tensor(1, "other")?;
    let a = truthy(c, a)?;
    let b = truthy(c, b)?;
    let r = match kind {
        0 => {
            let f = c.scalar(DType::Bool, 0.0);
            c.add(Op::Where, &[a, b, f])?
        }
        1 => {
            let t = c.scalar(DType::Bool, 1.0);
            c.add(Op::Where, &[a, t, b])?
        }
        _ => {
            let e = c.binary(BinaryOp::Equal, a, b)?;
            not(c, e)?
        }
    };
    one(r)
}

fn logical_and(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    logical(c, 0)
}
fn logical_or(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    logical(c, 1)
}
fn logical_xor(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    logical(c, 2)
}

fn bitwise_not(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    if c.dtype(x) == DType::Bool {
        return one(not(c, x)?);
    }
    simple(c, UnaryOp::BitNot)
}

fn bitwise(c: &mut Call<'_>, kind: u8, op: BinaryOp) -> Result<Vec<Val>, IrError> {
    let a = c.operand(0, "self")?;
    let b = c.operand(1, "other")?;
    if result_type(c, &[a, b]) == DType::Bool {
        return logical(c, kind);
    }
    one(binary_promoted(c, op, a, b)?)
}

fn bitwise_and(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    bitwise(c, 0, BinaryOp::BitAnd)
}
fn bitwise_or(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    bitwise(c, 1, BinaryOp::BitOr)
}
fn bitwise_xor(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    bitwise(c, 2, BinaryOp::BitXor)
}

fn where_(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let cond = c.tensor(0, "condition")?;
    let cond = truthy(c, cond)?;
    let a = c.operand(1, "self")?;
    let b = c.operand(2, "other")?;
    let to = result_type(c, &[a, b]);
    let v = coerce(c, &[a, b], to)?;
    one(c.add(Op::Where, &[cond, v[0], v[1]])?)
}

fn masked_fill(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let mask = c.tensor(1, "mask")?;
    let mask = truthy(c, mask)?;
    let value = c.operand(2, "value")?;
    let to = c.dtype(x);
    let v = coerce(c, &[value], to)?[0];
    one(c.add(Op::Where, &[mask, v, x])?)
}
