//! Elementwise ops: unary activations and math, broadcasting binary arithmetic and
//! comparisons, and the variadic Max/Min/Sum/Mean.
//!
//! Spec: <https://onnx.ai/onnx/operators/>. Opset notes:
//! - Binary ops broadcast numpy-style from opset 7 (the opset < 7 `broadcast`/`axis`
//!   attributes are outside the supported range).
//! - Max/Min/Sum/Mean (variadic) become left-to-right chains of binary ops; Mean
//!   divides the sum by the input count.
//! - Clip: opsets 6–10 take `min`/`max` attributes; from 11 they are optional inputs
//!   that must be compile-time constants. Absent bounds are ±infinity.
//! - Selu, PRelu, Gelu, Softsign, Sign, Mish, Celu, ThresholdedRelu, Shrink, IsNaN and
//!   IsInf have no IR op of their own: they are desugared into existing ones (see each
//!   builder), and fusion passes may find the patterns again.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, UnaryOp};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("Add", 7, 22, add, ""),
    spec("Sub", 7, 22, sub, ""),
    spec("Mul", 7, 22, mul, ""),
    spec("Div", 7, 22, div, ""),
    spec("Pow", 7, 22, pow, ""),
    spec(
        "Mod",
        10,
        22,
        mod_,
        "fmod=0: sign of the divisor (ints only); fmod=1: C fmod",
    ),
    spec("Equal", 7, 22, equal, ""),
    spec("Less", 7, 22, less, ""),
    spec("Greater", 7, 22, greater, ""),
    spec("Max", 7, 22, max, "variadic: chain of binary Max"),
    spec("Min", 7, 22, min, "variadic: chain of binary Min"),
    spec("Sum", 7, 22, sum, "variadic: chain of Add"),
    spec(
        "Mean",
        7,
        22,
        mean,
        "variadic: chain of Add, then Div by the count",
    ),
    spec("Relu", 7, 22, relu, ""),
    spec("LeakyRelu", 7, 22, leaky_relu, "alpha default 0.01"),
    spec("Sigmoid", 7, 22, sigmoid, ""),
    spec(
        "HardSigmoid",
        7,
        22,
        hard_sigmoid,
        "alpha 0.2, beta 0.5 defaults",
    ),
    spec("HardSwish", 14, 22, hard_swish, ""),
    spec("Elu", 7, 22, elu, "alpha default 1"),
    spec("Selu", 7, 22, selu, "desugared: Elu(alpha) * gamma"),
    spec(
        "PRelu",
        7,
        22,
        prelu,
        "desugared: x + (slope - 1) * min(x, 0)",
    ),
    spec(
        "Gelu",
        20,
        22,
        gelu,
        "desugared into Erf (or Tanh for approximate=tanh)",
    ),
    spec("Tanh", 7, 22, tanh, ""),
    spec("Softplus", 7, 22, softplus, ""),
    spec("Exp", 7, 22, exp, ""),
    spec("Log", 7, 22, log, ""),
    spec("Sqrt", 7, 22, sqrt, ""),
    spec("Abs", 7, 22, abs, ""),
    spec("Neg", 7, 22, neg, ""),
    spec("Erf", 9, 22, erf, ""),
    spec("Floor", 7, 22, floor, ""),
    spec("Ceil", 7, 22, ceil, ""),
    spec("Reciprocal", 7, 22, reciprocal, ""),
    spec("Round", 11, 22, round, "half to even"),
    spec("Sin", 7, 22, trig, ""),
    spec("Cos", 7, 22, trig, ""),
    spec("Tan", 7, 22, trig, "sin / cos"),
    spec("Asin", 7, 22, trig, "atan(x / sqrt(1 - x^2))"),
    spec("Acos", 7, 22, trig, "2 atan(sqrt((1 - x) / (1 + x)))"),
    spec("Atan", 7, 22, trig, ""),
    spec(
        "Sinh",
        9,
        22,
        trig,
        "Taylor below 0.5, else (e^x - e^-x) / 2",
    ),
    spec("Cosh", 9, 22, trig, "(e^x + e^-x) / 2"),
    spec("Asinh", 9, 22, trig, "sign(x) log(abs(x) + sqrt(x^2 + 1))"),
    spec("Acosh", 9, 22, trig, "log(x + sqrt(x^2 - 1))"),
    spec("Atanh", 9, 22, trig, "log((1 + x) / (1 - x)) / 2"),
    spec("Softsign", 7, 22, softsign, "desugared: x / (1 + |x|)"),
    spec("Sign", 9, 22, sign, "desugared: (x > 0) - (x < 0)"),
    spec("Mish", 18, 22, mish, "desugared: x * tanh(softplus(x))"),
    spec("Celu", 12, 22, celu, "desugared: alpha * Elu(x / alpha)"),
    spec(
        "ThresholdedRelu",
        10,
        22,
        thresholded_relu,
        "desugared: Where(x > alpha, x, 0)",
    ),
    spec("Shrink", 9, 22, shrink, "desugared into Where"),
    spec("IsNaN", 9, 22, is_nan, "desugared: Not(Equal(x, x))"),
    spec(
        "IsInf",
        10,
        22,
        is_inf,
        "desugared: Equal(x, +inf) / Equal(x, -inf)",
    ),
    spec("BitwiseAnd", 18, 22, bitwise, "integers"),
    spec("BitwiseOr", 18, 22, bitwise, "integers"),
    spec("BitwiseXor", 18, 22, bitwise, "integers"),
    spec("BitwiseNot", 18, 22, bitwise_not, "integers"),
    spec(
        "BitShift",
        11,
        22,
        bit_shift,
        "direction LEFT/RIGHT; shifts by the bit width or more give 0",
    ),
    spec("Clip", 7, 10, clip_attrs, "min/max attributes"),
    spec(
        "Clip",
        11,
        22,
        clip_inputs,
        "min/max inputs, must be constants",
    ),
];

/// Sin … Atanh: the IR's `Trig` function named like the ONNX op.
fn trig(c: &mut NodeCtx<'_>) -> Built {
    let f = neoc_ir::ops::elementwise::TrigFn::from_name(c.op)
        .ok_or_else(|| IrError::Internal(format!("no trigonometric function `{}`", c.op)))?;
    unary(c, UnaryOp::Trig(f))
}

fn unary(c: &mut NodeCtx<'_>, u: UnaryOp) -> Built {
    let x = c.req(0)?;
    c.emit1(Op::Unary(u), vec![Some(x)])
}

fn binary(c: &mut NodeCtx<'_>, b: BinaryOp) -> Built {
    let (a, x) = (c.req(0)?, c.req(1)?);
    c.emit1(Op::Binary(b), vec![Some(a), Some(x)])
}

fn bitwise(c: &mut NodeCtx<'_>) -> Built {
    let op = match c.op {
        "BitwiseAnd" => BinaryOp::BitAnd,
        "BitwiseOr" => BinaryOp::BitOr,
        _ => BinaryOp::BitXor,
    };
    binary(c, op)
}
fn bitwise_not(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::BitNot)
}
fn bit_shift(c: &mut NodeCtx<'_>) -> Built {
    let op = match c.attrs.string("direction", "")?.as_str() {
        "LEFT" => BinaryOp::ShiftLeft,
        "RIGHT" => BinaryOp::ShiftRight,
        other => {
            return Err(c.attr_error(format!("direction must be LEFT or RIGHT, got \"{other}\"")))
        }
    };
    binary(c, op)
}

fn add(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Add)
}
fn sub(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Sub)
}
fn mul(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Mul)
}
fn div(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Div)
}
fn pow(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Pow)
}
/// Mod-10: `fmod = 0` takes the sign of the divisor and is only defined for integers;
/// `fmod = 1` takes the sign of the dividend.
fn mod_(c: &mut NodeCtx<'_>) -> Built {
    let fmod = c.attrs.int("fmod", 0)? != 0;
    let a = c.req(0)?;
    if !fmod && c.ty(a).dtype.is_float() {
        return Err(c.attr_error("fmod must be 1 for floating-point inputs"));
    }
    binary(c, if fmod { BinaryOp::Fmod } else { BinaryOp::Mod })
}
fn equal(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Equal)
}
fn less(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Less)
}
fn greater(c: &mut NodeCtx<'_>) -> Built {
    binary(c, BinaryOp::Greater)
}

/// Folds the (present) inputs left to right with `b`; the last step gets the node's
/// own name. One input is an Identity.
fn chain(c: &mut NodeCtx<'_>, b: BinaryOp, then_div: bool) -> Built {
    let xs: Vec<ValueId> = c.inputs().iter().flatten().copied().collect();
    let Some((&first, rest)) = xs.split_first() else {
        return Err(c.shape_error("needs at least one input"));
    };
    if rest.is_empty() && !then_div {
        return c.emit1(Op::Identity, vec![Some(first)]);
    }
    let mut acc = first;
    for (i, &x) in rest.iter().enumerate() {
        let last = i + 1 == rest.len() && !then_div;
        if last {
            return c.emit1(Op::Binary(b), vec![Some(acc), Some(x)]);
        }
        acc = c.inner(
            &format!("{}{i}", b.name()),
            Op::Binary(b),
            vec![Some(acc), Some(x)],
        )?;
    }
    // Mean: divide the sum by the count.
    let dtype = c.ty(acc).dtype;
    let n = c.constant(
        "count",
        Tensor::from_f64_as(dtype, vec![], &[xs.len() as f64]),
    );
    c.emit1(Op::Binary(BinaryOp::Div), vec![Some(acc), Some(n)])
}

fn max(c: &mut NodeCtx<'_>) -> Built {
    chain(c, BinaryOp::Max, false)
}
fn min(c: &mut NodeCtx<'_>) -> Built {
    chain(c, BinaryOp::Min, false)
}
fn sum(c: &mut NodeCtx<'_>) -> Built {
    chain(c, BinaryOp::Add, false)
}
fn mean(c: &mut NodeCtx<'_>) -> Built {
    chain(c, BinaryOp::Add, true)
}

fn relu(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Relu)
}
fn leaky_relu(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 0.01)?;
    unary(c, UnaryOp::LeakyRelu { alpha })
}
fn sigmoid(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Sigmoid)
}
fn hard_sigmoid(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 0.2)?;
    let beta = c.attrs.float("beta", 0.5)?;
    unary(c, UnaryOp::HardSigmoid { alpha, beta })
}
fn hard_swish(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::HardSwish)
}
fn elu(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 1.0)?;
    unary(c, UnaryOp::Elu { alpha })
}
fn tanh(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Tanh)
}
fn softplus(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Softplus)
}
fn exp(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Exp)
}
fn log(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Log)
}
fn sqrt(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Sqrt)
}
fn abs(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Abs)
}
fn neg(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Neg)
}
fn erf(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Erf)
}
fn floor(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Floor)
}
fn ceil(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Ceil)
}
fn reciprocal(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Reciprocal)
}
fn round(c: &mut NodeCtx<'_>) -> Built {
    unary(c, UnaryOp::Round)
}

/// A scalar constant of `like`'s dtype, named `<node>/<suffix>`.
fn scalar(c: &mut NodeCtx<'_>, suffix: &str, like: ValueId, v: f64) -> ValueId {
    let dtype = c.ty(like).dtype;
    c.constant(suffix, Tensor::from_f64_as(dtype, vec![], &[v]))
}

/// `selu(x) = gamma * elu(x; alpha)`.
fn selu(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 1.673_263_2)?;
    let gamma = c.attrs.float("gamma", 1.050_701)?;
    let x = c.req(0)?;
    let e = c.inner("elu", Op::Unary(UnaryOp::Elu { alpha }), vec![Some(x)])?;
    let g = scalar(c, "gamma", x, f64::from(gamma));
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(e), Some(g)])
}

/// `prelu(x) = x if x >= 0 else slope * x`, written `x + (slope - 1) * min(x, 0)`, so
/// that only ops the IR has are used and `slope` broadcasts as in the spec.
fn prelu(c: &mut NodeCtx<'_>) -> Built {
    let (x, slope) = (c.req(0)?, c.req(1)?);
    let zero = scalar(c, "zero", x, 0.0);
    let one = scalar(c, "one", x, 1.0);
    let neg = c.inner(
        "neg_part",
        Op::Binary(BinaryOp::Min),
        vec![Some(x), Some(zero)],
    )?;
    let s1 = c.inner(
        "slope_m1",
        Op::Binary(BinaryOp::Sub),
        vec![Some(slope), Some(one)],
    )?;
    let scaled = c.inner(
        "scaled",
        Op::Binary(BinaryOp::Mul),
        vec![Some(s1), Some(neg)],
    )?;
    c.emit1(Op::Binary(BinaryOp::Add), vec![Some(x), Some(scaled)])
}

/// `gelu(x) = 0.5 x (1 + erf(x / sqrt 2))`, or with `approximate = "tanh"`
/// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
fn gelu(c: &mut NodeCtx<'_>) -> Built {
    let approximate = c.attrs.string("approximate", "none")?;
    let x = c.req(0)?;
    let inner = match approximate.as_str() {
        "none" => {
            let k = scalar(c, "inv_sqrt2", x, std::f64::consts::FRAC_1_SQRT_2);
            let s = c.inner("scaled", Op::Binary(BinaryOp::Mul), vec![Some(x), Some(k)])?;
            c.inner("erf", Op::Unary(UnaryOp::Erf), vec![Some(s)])?
        }
        "tanh" => {
            let k = scalar(c, "k", x, 0.044_715);
            let r = scalar(c, "sqrt_2_over_pi", x, (2.0 / std::f64::consts::PI).sqrt());
            let x2 = c.inner("x2", Op::Binary(BinaryOp::Mul), vec![Some(x), Some(x)])?;
            let x3 = c.inner("x3", Op::Binary(BinaryOp::Mul), vec![Some(x2), Some(x)])?;
            let kx3 = c.inner("kx3", Op::Binary(BinaryOp::Mul), vec![Some(k), Some(x3)])?;
            let sum = c.inner("sum", Op::Binary(BinaryOp::Add), vec![Some(x), Some(kx3)])?;
            let arg = c.inner("arg", Op::Binary(BinaryOp::Mul), vec![Some(r), Some(sum)])?;
            c.inner("tanh", Op::Unary(UnaryOp::Tanh), vec![Some(arg)])?
        }
        other => {
            return Err(c.attr_error(format!(
                "approximate must be \"none\" or \"tanh\", got \"{other}\""
            )))
        }
    };
    let one = scalar(c, "one", x, 1.0);
    let half = scalar(c, "half", x, 0.5);
    let p = c.inner(
        "one_plus",
        Op::Binary(BinaryOp::Add),
        vec![Some(inner), Some(one)],
    )?;
    let hx = c.inner(
        "half_x",
        Op::Binary(BinaryOp::Mul),
        vec![Some(half), Some(x)],
    )?;
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(hx), Some(p)])
}

/// `softsign(x) = x / (1 + |x|)`.
fn softsign(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let one = scalar(c, "one", x, 1.0);
    let a = c.inner("abs", Op::Unary(UnaryOp::Abs), vec![Some(x)])?;
    let d = c.inner("denom", Op::Binary(BinaryOp::Add), vec![Some(a), Some(one)])?;
    c.emit1(Op::Binary(BinaryOp::Div), vec![Some(x), Some(d)])
}

/// `sign(x) = cast(x > 0) - cast(x < 0)`.
fn sign(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let dtype = c.ty(x).dtype;
    let zero = scalar(c, "zero", x, 0.0);
    let gt = c.inner(
        "gt",
        Op::Binary(BinaryOp::Greater),
        vec![Some(x), Some(zero)],
    )?;
    let lt = c.inner("lt", Op::Binary(BinaryOp::Less), vec![Some(x), Some(zero)])?;
    let pos = c.inner("pos", Op::Cast(Cast { to: dtype }), vec![Some(gt)])?;
    let neg = c.inner("neg", Op::Cast(Cast { to: dtype }), vec![Some(lt)])?;
    c.emit1(Op::Binary(BinaryOp::Sub), vec![Some(pos), Some(neg)])
}

/// `mish(x) = x * tanh(softplus(x))`.
fn mish(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let sp = c.inner("softplus", Op::Unary(UnaryOp::Softplus), vec![Some(x)])?;
    let t = c.inner("tanh", Op::Unary(UnaryOp::Tanh), vec![Some(sp)])?;
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(x), Some(t)])
}

/// `celu(x) = max(0, x) + min(0, alpha (exp(x / alpha) - 1)) = alpha * elu(x / alpha; 1)`.
fn celu(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 1.0)?;
    if alpha == 0.0 {
        return Err(c.attr_error("alpha must not be 0"));
    }
    let x = c.req(0)?;
    let a = scalar(c, "alpha", x, f64::from(alpha));
    let s = c.inner("scaled", Op::Binary(BinaryOp::Div), vec![Some(x), Some(a)])?;
    let e = c.inner("elu", Op::Unary(UnaryOp::Elu { alpha: 1.0 }), vec![Some(s)])?;
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(a), Some(e)])
}

/// `thresholded_relu(x) = x if x > alpha else 0`.
fn thresholded_relu(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 1.0)?;
    let x = c.req(0)?;
    let a = scalar(c, "alpha", x, f64::from(alpha));
    let zero = scalar(c, "zero", x, 0.0);
    let gt = c.inner("gt", Op::Binary(BinaryOp::Greater), vec![Some(x), Some(a)])?;
    c.emit1(Op::Where, vec![Some(gt), Some(x), Some(zero)])
}

/// `shrink(x) = x + bias if x < -lambd; x - bias if x > lambd; else 0`.
fn shrink(c: &mut NodeCtx<'_>) -> Built {
    let lambd = f64::from(c.attrs.float("lambd", 0.5)?);
    let bias = f64::from(c.attrs.float("bias", 0.0)?);
    let x = c.req(0)?;
    let lo = scalar(c, "neg_lambd", x, -lambd);
    let hi = scalar(c, "lambd", x, lambd);
    let b = scalar(c, "bias", x, bias);
    let zero = scalar(c, "zero", x, 0.0);
    let below = c.inner("below", Op::Binary(BinaryOp::Less), vec![Some(x), Some(lo)])?;
    let above = c.inner(
        "above",
        Op::Binary(BinaryOp::Greater),
        vec![Some(x), Some(hi)],
    )?;
    let plus = c.inner("plus", Op::Binary(BinaryOp::Add), vec![Some(x), Some(b)])?;
    let minus = c.inner("minus", Op::Binary(BinaryOp::Sub), vec![Some(x), Some(b)])?;
    let upper = c.inner(
        "upper",
        Op::Where,
        vec![Some(above), Some(minus), Some(zero)],
    )?;
    c.emit1(Op::Where, vec![Some(below), Some(plus), Some(upper)])
}

/// A `bool` scalar constant named `<node>/<suffix>`.
fn boolean(c: &mut NodeCtx<'_>, suffix: &str, v: bool) -> ValueId {
    c.constant(
        suffix,
        Tensor::from_f64_as(DType::Bool, vec![], &[f64::from(u8::from(v))]),
    )
}

/// `isnan(x) = not (x == x)`.
fn is_nan(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let eq = c.inner("eq", Op::Binary(BinaryOp::Equal), vec![Some(x), Some(x)])?;
    let f = boolean(c, "false", false);
    c.emit1(Op::Binary(BinaryOp::Equal), vec![Some(eq), Some(f)])
}

/// `isinf(x)`: `x == +inf` and/or `x == -inf` as `detect_positive`/`detect_negative`
/// say (both by default; neither gives all false).
fn is_inf(c: &mut NodeCtx<'_>) -> Built {
    let pos = c.attrs.int("detect_positive", 1)? != 0;
    let neg = c.attrs.int("detect_negative", 1)? != 0;
    let x = c.req(0)?;
    match (pos, neg) {
        (true, true) => {
            let a = c.inner("abs", Op::Unary(UnaryOp::Abs), vec![Some(x)])?;
            let inf = scalar(c, "inf", x, f64::INFINITY);
            c.emit1(Op::Binary(BinaryOp::Equal), vec![Some(a), Some(inf)])
        }
        (true, false) | (false, true) => {
            let v = if pos {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
            let inf = scalar(c, "inf", x, v);
            c.emit1(Op::Binary(BinaryOp::Equal), vec![Some(x), Some(inf)])
        }
        (false, false) => {
            // NaN never equals itself... but it never equals NaN either: compare with NaN.
            let nan = scalar(c, "nan", x, f64::NAN);
            c.emit1(Op::Binary(BinaryOp::Equal), vec![Some(x), Some(nan)])
        }
    }
}

/// Clip-6: bounds are attributes (defaults: the float range).
fn clip_attrs(c: &mut NodeCtx<'_>) -> Built {
    let min = c.attrs.float("min", f32::NEG_INFINITY)?;
    let max = c.attrs.float("max", f32::INFINITY)?;
    unary(c, UnaryOp::Clip { min, max })
}

/// Clip-11+: bounds are optional inputs, which must be constants.
fn clip_inputs(c: &mut NodeCtx<'_>) -> Built {
    let bound = |c: &NodeCtx<'_>, i: usize, what: &str, default: f32| -> Result<f32, IrError> {
        Ok(c.const_scalar(i, what)?.map_or(default, |v| v as f32))
    };
    let min = bound(c, 1, "min", f32::NEG_INFINITY)?;
    let max = bound(c, 2, "max", f32::INFINITY)?;
    unary(c, UnaryOp::Clip { min, max })
}
