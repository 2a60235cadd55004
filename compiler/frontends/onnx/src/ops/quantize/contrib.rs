//! onnxruntime's quantized contrib operators (domain `com.microsoft`, version 1), as
//! `quantize_static(quant_format=QOperator)` writes them with its default
//! `op_types_to_quantize`, and as onnxruntime's graph optimizer fuses
//! `quantize_dynamic` models.
//!
//! Spec: onnxruntime's `docs/ContribOperators.md`; where it is vague, the CPU kernels
//! (`onnxruntime/contrib_ops/cpu/quantization/`). The elementwise, pooling, concat
//! and activation ops are expanded into their QDQ form,
//!
//! ```text
//! y = QuantizeLinear(op(DequantizeLinear(x_i, x_scale_i, x_zero_i)...), y_scale, y_zero)
//! ```
//!
//! with the same nodes the importer writes for DequantizeLinear / QuantizeLinear
//! (`Mul(Sub(Cast<f32>(x), zx), sx)`, `Cast(Clip(Round(y / sy) + zy))`), so the
//! `int8-qdq` pass folds them where it has a rule (QLinearAdd after a QLinearConv is
//! ResNet's residual fold). onnxruntime computes these ops with one rounding at the
//! end too: QLinearAdd / QLinearMul in fixed point or float from the scale ratios
//! (MLAS), the pooling ops as an average of the dequantized window, QLinearConcat,
//! QLinearSigmoid and QLinearLeakyRelu as 256-entry tables built by exactly
//! dequantize → op → quantize, QLinearSoftmax from an exp table; so the results differ
//! from onnxruntime's by arithmetic rounding only (one quantum where a value lies on a
//! rounding tie). Scales and zero points are per tensor, as onnxruntime's kernels
//! require.
//!
//! The matrix products keep their integer arithmetic:
//! - QGemm: `acc = C + Σ (a − za)(b − zb)` (int32), `y = acc · (alpha · sa · sb[n])`
//!   in float, or requantized with that scale divided by `y_scale`; onto the int8 QConv
//!   ([`super::int8::gemm`]) when the operands suit it, else an int32 MatMul.
//! - DynamicQuantizeMatMul: DynamicQuantizeLinear of A, then as MatMulIntegerToFloat
//!   with its run-time scale and zero point.
//! - MatMulIntegerToFloat: `f32(acc) · (a_scale · b_scale) + bias`, written as
//!   `quantize_dynamic`'s `Mul(Cast<f32>(acc), Mul(sa, sb))` so that the dynamic rule
//!   of `int8-qdq` gives the QConv its dequantizing epilogue.

use super::{as_f32, bin, centred, int_range, quantized_value};
use crate::context::{Built, NodeCtx};
use crate::ops::OpSpec;
use neoc_ir::ops::{
    BinaryOp, Cast, Concat, GlobalPool, Pool, PoolKind, Reshape, Softmax, Transpose, UnaryOp,
};
use neoc_ir::{DType, IrError, Op, ValueId};

/// The domain of these operators.
const DOMAIN: &str = "com.microsoft";

const fn ms(op_type: &'static str, build: super::super::BuildFn, note: &'static str) -> OpSpec {
    super::super::domain_spec(DOMAIN, op_type, build, note)
}

pub(crate) const SPECS: &[OpSpec] = &[
    ms(
        "QLinearAdd",
        qlinear_add,
        "com.microsoft; DQ, Add, Q (u8/i8, per tensor)",
    ),
    ms(
        "QLinearMul",
        qlinear_mul,
        "com.microsoft; DQ, Mul, Q (u8/i8, per tensor)",
    ),
    ms(
        "QLinearGlobalAveragePool",
        qlinear_global_average_pool,
        "com.microsoft; DQ, GlobalAveragePool, Q; channels_last=0 only",
    ),
    ms(
        "QLinearAveragePool",
        qlinear_average_pool,
        "com.microsoft; DQ, AveragePool, Q; channels_last=0 only",
    ),
    ms(
        "QLinearConcat",
        qlinear_concat,
        "com.microsoft; DQ of each input, Concat, Q",
    ),
    ms(
        "QLinearSigmoid",
        qlinear_sigmoid,
        "com.microsoft; DQ, Sigmoid, Q",
    ),
    ms(
        "QLinearLeakyRelu",
        qlinear_leaky_relu,
        "com.microsoft; DQ, LeakyRelu, Q",
    ),
    ms(
        "QLinearSoftmax",
        qlinear_softmax,
        "com.microsoft; DQ, Softmax (the `opset` attribute's semantics), Q",
    ),
    ms(
        "QGemm",
        qgemm,
        "com.microsoft; int8 QConv (constant i8 B) or int32 MatMul; alpha, transA, transB, int32 C",
    ),
    ms(
        "DynamicQuantizeMatMul",
        dynamic_quantize_matmul,
        "com.microsoft; DynamicQuantizeLinear + int8 QConv with a dequantizing epilogue",
    ),
    ms(
        "MatMulIntegerToFloat",
        matmul_integer_to_float,
        "com.microsoft; int8 QConv (or int32 MatMul), Cast, Mul(a_scale, b_scale), Add bias",
    ),
];

/// A per-tensor quantization parameter (input `i`): one element, or an error naming
/// the node.
fn per_tensor(c: &NodeCtx<'_>, i: usize, what: &str) -> Result<Option<ValueId>, IrError> {
    let Some(v) = c.input(i) else {
        return Ok(None);
    };
    let n: u64 = c.dims(v)?.iter().product();
    if n != 1 {
        return Err(c.attr_error(format!(
            "{what} (input {i}) must be a scalar or a 1-element tensor (per tensor), got \
             shape {:?}",
            c.dims(v)?
        )));
    }
    Ok(Some(v))
}

/// `(x − zero) · scale` for the (x, scale, zero point) inputs `(xi, si, zi)`: the
/// nodes DequantizeLinear imports to.
fn dq(
    c: &mut NodeCtx<'_>,
    tag: &str,
    (xi, si, zi): (usize, usize, usize),
) -> Result<ValueId, IrError> {
    let x = c.req(xi)?;
    let dt = c.ty(x).dtype;
    if !matches!(dt, DType::U8 | DType::I8) {
        return Err(c.attr_error(format!("input {xi} must be uint8 or int8, got {dt}")));
    }
    let scale = per_tensor(c, si, "scale")?
        .ok_or_else(|| c.attr_error(format!("input {si} (scale) is required")))?;
    let zp = per_tensor(c, zi, "zero point")?;
    let mut v = c.inner(
        &format!("{tag}_f"),
        Op::Cast(Cast { to: DType::F32 }),
        vec![Some(x)],
    )?;
    if let Some(z) = zp {
        let zf = as_f32(c, &format!("{tag}_zero_f"), z)?;
        v = bin(c, &format!("{tag}_centered"), BinaryOp::Sub, v, zf)?;
    }
    let sf = as_f32(c, &format!("{tag}_scale_f"), scale)?;
    bin(c, &format!("{tag}_dq"), BinaryOp::Mul, v, sf)
}

/// QuantizeLinear of `y` with the (scale, zero point) inputs `(si, zi)` as the node's
/// output; its type is the zero point's, else `fallback` (the input's).
fn q(c: &mut NodeCtx<'_>, y: ValueId, (si, zi): (usize, usize), fallback: DType) -> Built {
    let scale = per_tensor(c, si, "output scale")?
        .ok_or_else(|| c.attr_error(format!("input {si} (output scale) is required")))?;
    let zp = per_tensor(c, zi, "output zero point")?;
    let dt = zp.map_or(fallback, |z| c.ty(z).dtype);
    let range = match (dt, int_range(dt)) {
        (DType::U8 | DType::I8, Some(r)) => r,
        _ => return Err(c.attr_error(format!("the output must be uint8 or int8, got {dt}"))),
    };
    let sf = as_f32(c, "y_scale_f", scale)?;
    let zf = match zp {
        Some(z) => Some(as_f32(c, "y_zero_f", z)?),
        None => None,
    };
    let sat = quantized_value(c, "y", (y, sf, zf), range)?;
    c.emit1(Op::Cast(Cast { to: dt }), vec![Some(sat)])
}

fn input_type(c: &NodeCtx<'_>, i: usize) -> Result<DType, IrError> {
    Ok(c.ty(c.req(i)?).dtype)
}

fn qlinear_binary(c: &mut NodeCtx<'_>, op: BinaryOp) -> Built {
    let a = dq(c, "a", (0, 1, 2))?;
    let b = dq(c, "b", (3, 4, 5))?;
    let y = bin(c, "op", op, a, b)?;
    let t = input_type(c, 0)?;
    q(c, y, (6, 7), t)
}

fn qlinear_add(c: &mut NodeCtx<'_>) -> Built {
    qlinear_binary(c, BinaryOp::Add)
}

fn qlinear_mul(c: &mut NodeCtx<'_>) -> Built {
    qlinear_binary(c, BinaryOp::Mul)
}

/// Refuses `channels_last = 1` (NHWC pooling, which `quantize_static` does not write).
fn channels_first(c: &NodeCtx<'_>) -> Result<(), IrError> {
    if c.attrs.int("channels_last", 0)? != 0 {
        return Err(c.attr_error("channels_last = 1 is not supported"));
    }
    Ok(())
}

/// A single-input op `(x, x_scale, x_zero, y_scale, y_zero)` as DQ → `op` → Q.
fn unary_form(c: &mut NodeCtx<'_>, op: Op) -> Built {
    let x = dq(c, "x", (0, 1, 2))?;
    let y = c.inner("op", op, vec![Some(x)])?;
    let t = input_type(c, 0)?;
    q(c, y, (3, 4), t)
}

fn qlinear_global_average_pool(c: &mut NodeCtx<'_>) -> Built {
    channels_first(c)?;
    let kind = PoolKind::Avg {
        count_include_pad: false,
    };
    unary_form(c, Op::GlobalPool(GlobalPool { kind }))
}

fn qlinear_average_pool(c: &mut NodeCtx<'_>) -> Built {
    channels_first(c)?;
    let xd = c.dims(c.req(0)?)?;
    let kernel = c
        .attrs
        .uints("kernel_shape")?
        .ok_or_else(|| c.attr_error("attribute \"kernel_shape\" is required"))?;
    let win = super::super::conv_pool::window(c, &xd, kernel)?;
    let pool = Pool {
        kind: PoolKind::Avg {
            count_include_pad: c.attrs.flag("count_include_pad", false)?,
        },
        kernel: win.kernel,
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        ceil_mode: c.attrs.flag("ceil_mode", false)?,
    };
    unary_form(c, Op::Pool(pool))
}

fn qlinear_sigmoid(c: &mut NodeCtx<'_>) -> Built {
    unary_form(c, Op::Unary(UnaryOp::Sigmoid))
}

fn qlinear_leaky_relu(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 0.01)?;
    unary_form(c, Op::Unary(UnaryOp::LeakyRelu { alpha }))
}

/// QLinearSoftmax: `axis` (default −1) with the semantics of the Softmax opset named
/// by the required `opset` attribute (before 13: over the input coerced to 2-D at
/// `axis`).
fn qlinear_softmax(c: &mut NodeCtx<'_>) -> Built {
    let opset = c
        .attrs
        .opt_int("opset")?
        .ok_or_else(|| c.attr_error("attribute \"opset\" is required"))?;
    let dims = c.dims(c.req(0)?)?;
    let axis = c.axis(c.attrs.int("axis", -1)?, dims.len())?;
    let x = dq(c, "x", (0, 1, 2))?;
    let y = if opset >= 13 || axis + 1 == dims.len() {
        c.inner(
            "softmax",
            Op::Softmax(Softmax { axis, log: false }),
            vec![Some(x)],
        )?
    } else {
        let rows: u64 = dims[..axis].iter().product();
        let cols: u64 = dims[axis..].iter().product();
        let flat = Op::Reshape(Reshape {
            shape: vec![rows, cols],
        });
        let f = c.inner("to_2d", flat, vec![Some(x)])?;
        let s = c.inner(
            "softmax_2d",
            Op::Softmax(Softmax {
                axis: 1,
                log: false,
            }),
            vec![Some(f)],
        )?;
        c.inner(
            "from_2d",
            Op::Reshape(Reshape { shape: dims }),
            vec![Some(s)],
        )?
    };
    let t = input_type(c, 0)?;
    q(c, y, (3, 4), t)
}

/// QLinearConcat(y_scale, y_zero, x0, s0, z0, x1, s1, z1, ...).
fn qlinear_concat(c: &mut NodeCtx<'_>) -> Built {
    let n = c.inputs().len();
    if n < 5 || !(n - 2).is_multiple_of(3) {
        return Err(c.attr_error(format!(
            "expects y_scale, y_zero_point and (tensor, scale, zero point) triples, got \
             {n} inputs"
        )));
    }
    let first = c.req(2)?;
    let axis = c
        .attrs
        .opt_int("axis")?
        .ok_or_else(|| c.attr_error("attribute \"axis\" is required"))?;
    let axis = c.axis(axis, c.ty(first).rank())?;
    let mut parts = Vec::new();
    for k in 0..(n - 2) / 3 {
        let i = 2 + 3 * k;
        parts.push(Some(dq(c, &format!("x{k}"), (i, i + 1, i + 2))?));
    }
    let y = c.inner("concat", Op::Concat(Concat { axis }), parts)?;
    let t = c.ty(first).dtype;
    q(c, y, (0, 1), t)
}

/// `v` transposed (2-D).
fn transpose2(c: &mut NodeCtx<'_>, tag: &str, v: ValueId) -> Result<ValueId, IrError> {
    let op = Op::Transpose(Transpose { perm: vec![1, 0] });
    c.inner(tag, op, vec![Some(v)])
}

fn qgemm(c: &mut NodeCtx<'_>) -> Built {
    let alpha = c.attrs.float("alpha", 1.0)?;
    let trans_a = c.attrs.flag("transA", false)?;
    let trans_b = c.attrs.flag("transB", false)?;
    if c.input(7).is_some() && c.input(8).is_none() {
        return Err(c.attr_error(
            "y_scale without y_zero_point is not supported (onnxruntime's kernel writes \
             float then)",
        ));
    }
    let (a, b) = (c.req(0)?, c.req(3)?);
    for (v, what) in [(a, "A"), (b, "B")] {
        let (dt, rank) = (c.ty(v).dtype, c.ty(v).rank());
        if !matches!(dt, DType::U8 | DType::I8) || rank != 2 {
            return Err(c.attr_error(format!(
                "{what} must be a 2-D uint8 or int8 matrix, got rank {rank} {dt}"
            )));
        }
    }
    if !trans_a {
        if let Some(v) = super::int8::gemm(c, alpha, trans_b)? {
            return Ok(v);
        }
    }
    // The exact int32 form: (A − za)(B − zb) + C, then the output scale in float.
    per_tensor(c, 1, "a_scale")?;
    per_tensor(c, 2, "a_zero_point")?;
    let mut ac = centred(c, "a", a, c.input(2), DType::I32, 0)?;
    if trans_a {
        ac = transpose2(c, "a_t", ac)?;
    }
    let b = if trans_b { transpose2(c, "b_t", b)? } else { b };
    // A per-column zero point [N] broadcasts along B's last axis as is.
    let bc = centred(c, "b", b, c.input(5), DType::I32, 0)?;
    let mut acc = c.inner("product", Op::MatMul, vec![Some(ac), Some(bc)])?;
    if let Some(bias) = c.input(6) {
        acc = bin(c, "biased", BinaryOp::Add, acc, bias)?;
    }
    let accf = c.inner("acc_f", Op::Cast(Cast { to: DType::F32 }), vec![Some(acc)])?;
    let sa = as_f32(c, "a_scale_f", c.req(1)?)?;
    let sb = as_f32(c, "b_scale_f", c.req(4)?)?;
    let alpha_c = c.constant("alpha", neoc_ir::Tensor::from_f32(vec![], &[alpha]));
    let s = bin(c, "alpha_a_scale", BinaryOp::Mul, alpha_c, sa)?;
    let s = bin(c, "out_scale", BinaryOp::Mul, s, sb)?;
    if c.input(7).is_none() {
        return c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(accf), Some(s)]);
    }
    let sy = as_f32(c, "y_scale_f", c.req(7)?)?;
    let m = bin(c, "multiplier", BinaryOp::Div, s, sy)?;
    let v = bin(c, "scaled", BinaryOp::Mul, accf, m)?;
    let zy = c.req(8)?;
    let dt = c.ty(zy).dtype;
    let zf = as_f32(c, "y_zero_f", zy)?;
    let range = int_range(dt).ok_or_else(|| c.attr_error("y_zero_point must be uint8 or int8"))?;
    // round(v) + zy rather than round(v + zy): the same for an integer zy.
    let unit = one(c);
    let sat = quantized_value(c, "y", (v, unit, Some(zf)), range)?;
    c.emit1(Op::Cast(Cast { to: dt }), vec![Some(sat)])
}

/// The constant 1.0.
fn one(c: &mut NodeCtx<'_>) -> ValueId {
    c.constant("one", neoc_ir::Tensor::from_f32(vec![], &[1.0]))
}

/// `f32(acc) · (a_scale · b_scale) + bias` of the u8/i8 activation `a` (zero point
/// `zero`: constant or run time), B at input `bi` with its zero point at `zbi`,
/// `b_scale` at `sbi` and the optional float bias at `biasi`.
fn integer_to_float(
    c: &mut NodeCtx<'_>,
    (a, a_scale, zero): (ValueId, ValueId, Result<i32, ValueId>),
    (bi, sbi, zbi, biasi): (usize, usize, usize, usize),
) -> Built {
    let b = c.req(bi)?;
    let b_scale = c.req(sbi)?;
    let n = *c.dims(b)?.last().unwrap_or(&0);
    let sb: u64 = c.dims(b_scale)?.iter().product();
    if !(sb == 1 || sb == n) {
        return Err(c.attr_error(format!(
            "b_scale must be per tensor or per column ({n}), got {sb} values"
        )));
    }
    let acc = match super::int8::integer_product(c, a, zero, (bi, zbi))? {
        Some(v) => v,
        None => {
            let za = match zero {
                Ok(0) => None,
                Ok(z) => {
                    let t = neoc_ir::Tensor::from_f64_as(c.ty(a).dtype, vec![], &[f64::from(z)]);
                    Some(c.constant("a_zero", t))
                }
                Err(v) => Some(v),
            };
            let ac = centred(c, "a", a, za, DType::I32, 0)?;
            let bc = centred(c, "b", b, c.input(zbi), DType::I32, 0)?;
            c.inner("product", Op::MatMul, vec![Some(ac), Some(bc)])?
        }
    };
    let accf = c.inner("acc_f", Op::Cast(Cast { to: DType::F32 }), vec![Some(acc)])?;
    let sa = as_f32(c, "a_scale_f", a_scale)?;
    let sbf = as_f32(c, "b_scale_f", b_scale)?;
    let s = bin(c, "scale", BinaryOp::Mul, sa, sbf)?;
    match c.input(biasi) {
        None => c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(accf), Some(s)]),
        Some(bias) => {
            let y = bin(c, "scaled", BinaryOp::Mul, accf, s)?;
            c.emit1(Op::Binary(BinaryOp::Add), vec![Some(y), Some(bias)])
        }
    }
}

/// DynamicQuantizeMatMul(A f32, B, b_scale, b_zero_point?, bias?).
fn dynamic_quantize_matmul(c: &mut NodeCtx<'_>) -> Built {
    let a = c.req(0)?;
    if c.ty(a).dtype != DType::F32 {
        return Err(c.attr_error(format!("A must be float32, got {}", c.ty(a).dtype)));
    }
    let name = format!("{}/a_quantized", c.name);
    let names = vec![
        name.clone(),
        format!("{name}:scale"),
        format!("{name}:zero"),
    ];
    let q = c
        .graph
        .add_node(&name, Op::DynamicQuantize, vec![Some(a)], names)?;
    let [aq, scale, zero] = q[..] else {
        return Err(IrError::Internal(format!(
            "node `{name}`: DynamicQuantize outputs"
        )));
    };
    integer_to_float(c, (aq, scale, Err(zero)), (1, 2, 3, 4))
}

/// MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?).
fn matmul_integer_to_float(c: &mut NodeCtx<'_>) -> Built {
    let a = c.req(0)?;
    let a_scale =
        per_tensor(c, 2, "a_scale")?.ok_or_else(|| c.attr_error("a_scale is required"))?;
    let zero = match per_tensor(c, 4, "a_zero_point")? {
        None => Ok(0),
        Some(z) => match c.const_input(4) {
            Some(t) => Ok(t.to_f64_vec()[0] as i32),
            None => Err(z),
        },
    };
    integer_to_float(c, (a, a_scale, zero), (1, 3, 5, 6))
}
