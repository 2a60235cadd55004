//! QuantizeLinear and DequantizeLinear (QDQ models), imported as elementwise IR ops.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html>,
//! <https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html>. Notes:
//! - `y = saturate(round_half_even(x / scale) + zero_point)` and
//!   `x = (q − zero_point) · scale`: Div, Round, Add, Clip, Cast resp. Cast, Sub, Mul.
//! - Per-tensor (scalar scale) and, from opset 13, per-axis (1-D scale along `axis`)
//!   quantization; int8 and uint8 (the default without a zero point). Blocked
//!   quantization (`block_size`, opset 21), 16-bit, 4-bit and float8 types are refused
//!   as not supported yet.
//! - Scale and zero point may be runtime tensors; they broadcast along `axis`.
//! - DynamicQuantizeLinear (11+): `scale = (max(0, max x) − min(0, min x)) / 255`,
//!   `zero_point = saturate(round(−min(0, min x) / scale))`, uint8 output; ReduceMax,
//!   ReduceMin and the ops above.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, Reduce, ReduceKind, Reshape, UnaryOp};
use neoc_ir::Tensor;
use neoc_ir::{DType, IrError, Op, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "QuantizeLinear",
        10,
        22,
        quantize,
        "int8/uint8, per-tensor or per-axis; Div, Round, Add, Clip, Cast",
    ),
    spec(
        "DequantizeLinear",
        10,
        22,
        dequantize,
        "int8/uint8, per-tensor or per-axis; Cast, Sub, Mul",
    ),
    spec(
        "DynamicQuantizeLinear",
        11,
        22,
        dynamic_quantize,
        "uint8; scale and zero point from the input's range",
    ),
];

/// `v` (scale or zero point) shaped to broadcast against `x` along `axis`: a scalar as
/// is, a 1-D tensor of the axis' length as `[n, 1, …, 1]`.
fn along_axis(
    c: &mut NodeCtx<'_>,
    v: ValueId,
    x_rank: usize,
    what: &str,
) -> Result<ValueId, IrError> {
    let vd = c.dims(v)?;
    if vd.iter().product::<u64>() <= 1 && vd.len() <= 1 {
        return Ok(v);
    }
    if c.opset < 13 || vd.len() != 1 {
        return Err(c.attr_error(format!(
            "{what} of shape {vd:?}: only per-tensor and per-axis (1-D) quantization is supported"
        )));
    }
    if c.attrs.int("block_size", 0)? != 0 {
        return Err(c.attr_error("blocked quantization (block_size) is not supported"));
    }
    let axis = c.axis(c.attrs.int("axis", 1)?, x_rank)?;
    let mut shape = vec![vd[0]];
    shape.resize(x_rank - axis, 1);
    c.inner(
        &format!("{what}_axis"),
        Op::Reshape(Reshape { shape }),
        vec![Some(v)],
    )
}

/// The quantized type: that of the zero point (default uint8); only 8-bit types.
fn quantized_type(c: &NodeCtx<'_>, zp: Option<ValueId>) -> Result<DType, IrError> {
    let t = zp.map_or(DType::U8, |z| c.ty(z).dtype);
    match t {
        DType::I8 | DType::U8 => Ok(t),
        other => Err(c.attr_error(format!(
            "{other} quantization is not supported (int8/uint8 are)"
        ))),
    }
}

/// An intermediate `op(a, b)` named `<node>/<name>`.
fn bin(
    c: &mut NodeCtx<'_>,
    name: &str,
    op: BinaryOp,
    a: ValueId,
    b: ValueId,
) -> Result<ValueId, IrError> {
    c.inner(name, Op::Binary(op), vec![Some(a), Some(b)])
}

/// The node's zero point (input 2), if any, as float32 shaped along the axis.
fn zero_point_f32(c: &mut NodeCtx<'_>, rank: usize) -> Result<Option<ValueId>, IrError> {
    let Some(zp) = c.input(2) else {
        return Ok(None);
    };
    let zp = along_axis(c, zp, rank, "zero_point")?;
    let f = c.inner(
        "zero_point_f",
        Op::Cast(Cast { to: DType::F32 }),
        vec![Some(zp)],
    )?;
    Ok(Some(f))
}

/// `clip(round_half_even(x / scale) + zp, min, max)` in float, before the final cast;
/// intermediates are named `<node>/<tag>_...`.
fn quantized_value(
    c: &mut NodeCtx<'_>,
    tag: &str,
    (x, scale, zp): (ValueId, ValueId, Option<ValueId>),
    (min, max): (f32, f32),
) -> Result<ValueId, IrError> {
    let scaled = bin(c, &format!("{tag}_scaled"), BinaryOp::Div, x, scale)?;
    let round = Op::Unary(UnaryOp::Round);
    let mut v = c.inner(&format!("{tag}_rounded"), round, vec![Some(scaled)])?;
    if let Some(zp) = zp {
        v = bin(c, &format!("{tag}_shifted"), BinaryOp::Add, v, zp)?;
    }
    let clip = Op::Unary(UnaryOp::Clip { min, max });
    c.inner(&format!("{tag}_saturated"), clip, vec![Some(v)])
}

fn quantize(c: &mut NodeCtx<'_>) -> Built {
    let (x, scale) = (c.req(0)?, c.req(1)?);
    let q = quantized_type(c, c.input(2))?;
    let rank = c.dims(x)?.len();
    let scale = along_axis(c, scale, rank, "scale")?;
    let zp = zero_point_f32(c, rank)?;
    let range = if q == DType::I8 {
        (-128.0, 127.0)
    } else {
        (0.0, 255.0)
    };
    let sat = quantized_value(c, "q", (x, scale, zp), range)?;
    c.emit1(Op::Cast(Cast { to: q }), vec![Some(sat)])
}

fn dequantize(c: &mut NodeCtx<'_>) -> Built {
    let (x, scale) = (c.req(0)?, c.req(1)?);
    quantized_type(c, Some(x))?;
    let rank = c.dims(x)?.len();
    let scale = along_axis(c, scale, rank, "scale")?;
    let mut v = c.inner("x_f", Op::Cast(Cast { to: DType::F32 }), vec![Some(x)])?;
    if let Some(zp) = zero_point_f32(c, rank)? {
        v = bin(c, "centered", BinaryOp::Sub, v, zp)?;
    }
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(v), Some(scale)])
}

fn dynamic_quantize(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let all = |kind| {
        Op::Reduce(Reduce {
            kind,
            axes: (0..rank).collect(),
            keepdims: false,
        })
    };
    let zero = c.constant("zero", Tensor::from_f32(vec![], &[0.0]));
    let qmax = c.constant("qmax", Tensor::from_f32(vec![], &[255.0]));
    let hi = c.inner("max", all(ReduceKind::Max), vec![Some(x)])?;
    let lo = c.inner("min", all(ReduceKind::Min), vec![Some(x)])?;
    let hi = bin(c, "max0", BinaryOp::Max, hi, zero)?;
    let lo = bin(c, "min0", BinaryOp::Min, lo, zero)?;
    let range = bin(c, "range", BinaryOp::Sub, hi, lo)?;
    let scale = c.emit_output(1, Op::Binary(BinaryOp::Div), vec![Some(range), Some(qmax)])?;
    // zero_point = saturate(round(-lo / scale)), i.e. the quantized value of 0 - lo.
    let neg = bin(c, "neg_min", BinaryOp::Sub, zero, lo)?;
    let zp = quantized_value(c, "zero_point", (neg, scale, None), (0.0, 255.0))?;
    let zp_u8 = c.emit_output(2, Op::Cast(Cast { to: DType::U8 }), vec![Some(zp)])?;
    let q = quantized_value(c, "q", (x, scale, Some(zp)), (0.0, 255.0))?;
    let y = c.emit_output(0, Op::Cast(Cast { to: DType::U8 }), vec![Some(q)])?;
    Ok(vec![y, scale, zp_u8])
}
