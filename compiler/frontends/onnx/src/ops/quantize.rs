//! QuantizeLinear and DequantizeLinear (QDQ models), imported as elementwise IR ops.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html>,
//! <https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html>. Notes:
//! - `y = saturate(round_half_even(x / scale) + zero_point)` and
//!   `x = (q − zero_point) · scale`: Div, Round, Add, Clip, Cast resp. Cast, Sub, Mul.
//! - Per-tensor (scalar scale), from opset 13 per-axis (1-D scale along `axis`), and
//!   from 21 blocked (`block_size`: the scale is expanded to the input's shape by a
//!   constant Gather). Quantized types: int8/uint8 (uint8 is the default without a zero
//!   point or `output_dtype`), int16/uint16, int4/uint4, and the 8-bit floats, where
//!   `y = Cast(x / scale)` with the `saturate` attribute (see `cast.rs`). Arithmetic is
//!   in float32; DequantizeLinear's output has the scale's type (f32, f16 or bf16).
//! - Scale and zero point may be runtime tensors; they broadcast along `axis`.
//! - DynamicQuantizeLinear (11+): `scale = (max(0, max x) − min(0, min x)) / 255`,
//!   `zero_point = saturate(round(−min(0, min x) / scale))`, uint8 output; one IR op
//!   (`neoc_ir::ops::dynamic_quantize`: one kernel, a min/max pass then the quantizing
//!   pass), float32 input only (the spec's only type).
//! - Operator form, as the reference defines it: MatMulInteger is an int32 MatMul of
//!   the zero-point-centred operands (exact); ConvInteger a Conv of them (computed in
//!   f32: exact while partial sums stay below 2^24); QLinearMatMul / QLinearConv take
//!   that integer product (plus QLinearConv's int32 bias), scale it by
//!   `a_scale · b_scale / y_scale`, add `y_zero_point`, round half to even and
//!   saturate. When the operands suit the int8 kernels (u8 activations, constant i8
//!   weights without zero point, constant scales) the four become one `QConv`
//!   ([`int8`]); otherwise they run through the float and int32 kernels as above.
//! - onnxruntime's com.microsoft quantized ops (QLinearAdd, QGemm, ...) are in
//!   [`contrib`]: expanded into this QDQ form, or onto the same QConv.

mod contrib;
mod int8;

pub(crate) use contrib::SPECS as CONTRIB_SPECS;

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, Gather, Reshape, UnaryOp};
use neoc_ir::Tensor;
use neoc_ir::{DType, IrError, Op, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "QuantizeLinear",
        10,
        22,
        quantize,
        "4/8/16-bit ints, 8-bit floats; per-tensor, per-axis or blocked; Div, Round, Add, Clip, Cast",
    ),
    spec(
        "DequantizeLinear",
        10,
        22,
        dequantize,
        "4/8/16-bit ints, 8-bit floats; per-tensor, per-axis or blocked; Cast, Sub, Mul",
    ),
    spec(
        "MatMulInteger",
        10,
        22,
        matmul_integer,
        "int32 MatMul of the zero-point-centred operands",
    ),
    spec(
        "ConvInteger",
        10,
        22,
        conv_integer,
        "Conv of the centred operands (f32, exact below 2^24), int32 output",
    ),
    spec(
        "QLinearMatMul",
        10,
        22,
        qlinear_matmul,
        "integer product, scaled, shifted, rounded and saturated",
    ),
    spec(
        "QLinearConv",
        10,
        22,
        qlinear_conv,
        "integer convolution + bias, scaled, shifted, rounded and saturated",
    ),
    spec(
        "DynamicQuantizeLinear",
        11,
        22,
        dynamic_quantize,
        "uint8; scale and zero point from the input's range",
    ),
];

/// `v` (scale or zero point) shaped to broadcast against `x` (of dims `xd`): a scalar
/// as is, a 1-D tensor of the axis' length as `[n, 1, …, 1]` (per-axis), and with
/// `block_size` (opset 21) a tensor of `x`'s rank whose `axis` dim counts blocks,
/// expanded by a constant Gather (`index i / block_size`) to `x`'s shape.
fn along_axis(c: &mut NodeCtx<'_>, v: ValueId, xd: &[u64], what: &str) -> Result<ValueId, IrError> {
    let vd = c.dims(v)?;
    let block = if c.opset >= 21 {
        c.attrs.int("block_size", 0)?
    } else {
        0
    };
    if block == 0 && vd.iter().product::<u64>() <= 1 && vd.len() <= 1 {
        return Ok(v);
    }
    let axis = c.axis(c.attrs.int("axis", 1)?, xd.len())?;
    if block != 0 {
        let blocks_ok = block > 0
            && vd.len() == xd.len()
            && vd.iter().zip(xd).enumerate().all(|(i, (&b, &x))| {
                if i == axis {
                    b == x.div_ceil(block as u64)
                } else {
                    b == x
                }
            });
        if !blocks_ok {
            return Err(c.attr_error(format!(
                "{what} of shape {vd:?} does not block input {xd:?} along axis {axis} \
                 with block_size {block}"
            )));
        }
        c.built_elements(&[xd[axis]], 8)?;
        let idx: Vec<i64> = (0..xd[axis] as i64).map(|i| i / block).collect();
        let idx = c.constant(
            &format!("{what}_block_index"),
            Tensor::from_i64(vec![xd[axis]], &idx),
        );
        return c.inner(
            &format!("{what}_blocks"),
            Op::Gather(Gather { axis }),
            vec![Some(v), Some(idx)],
        );
    }
    if c.opset < 13 || vd.len() != 1 || vd[0] != xd[axis] {
        return Err(c.attr_error(format!(
            "{what} of shape {vd:?}: expected a scalar, a 1-D tensor of {} (axis {axis}), \
             or blocked quantization",
            xd[axis]
        )));
    }
    let mut shape = vec![vd[0]];
    shape.resize(xd.len() - axis, 1);
    c.inner(
        &format!("{what}_axis"),
        Op::Reshape(Reshape { shape }),
        vec![Some(v)],
    )
}

/// The quantized type: that of the zero point, else the `output_dtype` attribute
/// (opset 21), else uint8. Integers of 4, 8 and 16 bits and the 8-bit floats.
fn quantized_type(c: &NodeCtx<'_>, zp: Option<ValueId>) -> Result<DType, IrError> {
    let declared = if c.opset >= 21 {
        c.attrs.int("output_dtype", 0)?
    } else {
        0
    };
    let t = match zp {
        Some(z) => c.ty(z).dtype,
        None if declared != 0 => i32::try_from(declared)
            .ok()
            .and_then(crate::reader::dtype_of)
            .ok_or_else(|| c.attr_error(format!("output_dtype {declared} is not supported")))?,
        None => DType::U8,
    };
    if int_range(t).is_some() || t.minifloat().is_some() {
        Ok(t)
    } else {
        Err(c.attr_error(format!(
            "{t} quantization is not supported (4-, 8- and 16-bit integers and 8-bit floats are)"
        )))
    }
}

/// The value range of an integer quantized type.
fn int_range(t: DType) -> Option<(f32, f32)> {
    Some(match t {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U16 => (0.0, 65535.0),
        DType::I4 => (-8.0, 7.0),
        DType::U4 => (0.0, 15.0),
        _ => return None,
    })
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

/// `v` as float32 (itself when it already is).
fn as_f32(c: &mut NodeCtx<'_>, tag: &str, v: ValueId) -> Result<ValueId, IrError> {
    if c.ty(v).dtype == DType::F32 {
        return Ok(v);
    }
    c.inner(tag, Op::Cast(Cast { to: DType::F32 }), vec![Some(v)])
}

/// The node's zero point (input 2), if any, as float32 shaped along the axis.
fn zero_point_f32(c: &mut NodeCtx<'_>, xd: &[u64]) -> Result<Option<ValueId>, IrError> {
    let Some(zp) = c.input(2) else {
        return Ok(None);
    };
    let zp = along_axis(c, zp, xd, "zero_point")?;
    as_f32(c, "zero_point_f", zp).map(Some)
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
    let xd = c.dims(x)?;
    let scale = along_axis(c, scale, &xd, "scale")?;
    let (x, scale) = (as_f32(c, "x_f", x)?, as_f32(c, "scale_f", scale)?);
    let Some(range) = int_range(q) else {
        // 8-bit floats: x / scale, converted (the zero point is zero by the spec).
        let scaled = bin(c, "scaled", BinaryOp::Div, x, scale)?;
        let saturate = c.opset < 19 || c.attrs.int("saturate", 1)? != 0;
        return super::cast::convert(c, scaled, q, saturate);
    };
    let zp = zero_point_f32(c, &xd)?;
    let sat = quantized_value(c, "q", (x, scale, zp), range)?;
    c.emit1(Op::Cast(Cast { to: q }), vec![Some(sat)])
}

/// `(x − zero_point) · scale` in float32, in the scale's type. `x` may also be int32
/// (quantized biases; the zero point is 0 then).
fn dequantize(c: &mut NodeCtx<'_>) -> Built {
    let (x, scale) = (c.req(0)?, c.req(1)?);
    if c.ty(x).dtype != DType::I32 {
        quantized_type(c, Some(x))?;
    }
    if let Some(v) = int8::dequantize_constant(c)? {
        return Ok(v);
    }
    let out = c.ty(scale).dtype;
    let xd = c.dims(x)?;
    let scale = along_axis(c, scale, &xd, "scale")?;
    let scale = as_f32(c, "scale_f", scale)?;
    let mut v = c.inner("x_f", Op::Cast(Cast { to: DType::F32 }), vec![Some(x)])?;
    if let Some(zp) = zero_point_f32(c, &xd)? {
        v = bin(c, "centered", BinaryOp::Sub, v, zp)?;
    }
    if out == DType::F32 {
        return c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(v), Some(scale)]);
    }
    let y = bin(c, "scaled", BinaryOp::Mul, v, scale)?;
    c.emit1(Op::Cast(Cast { to: out }), vec![Some(y)])
}

fn dynamic_quantize(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    if c.ty(x).dtype != DType::F32 {
        return Err(c.attr_error(format!(
            "DynamicQuantizeLinear takes float32, got {}",
            c.ty(x).dtype
        )));
    }
    c.emit(Op::DynamicQuantize, vec![Some(x)])
}

/// `q − zero_point` as `to` (`zp` optional; a 1-D zero point of `per_axis_rank` > 0
/// is shaped `[n, 1, …]` to run along axis 0 of a tensor of that rank).
fn centred(
    c: &mut NodeCtx<'_>,
    tag: &str,
    q: ValueId,
    zp: Option<ValueId>,
    to: DType,
    per_axis_rank: usize,
) -> Result<ValueId, IrError> {
    let v = c.inner(&format!("{tag}_wide"), Op::Cast(Cast { to }), vec![Some(q)])?;
    let Some(zp) = zp else {
        return Ok(v);
    };
    let zd = c.dims(zp)?;
    let zp = if per_axis_rank > 1 && zd.len() == 1 && zd[0] > 1 {
        let mut shape = vec![zd[0]];
        shape.resize(per_axis_rank, 1);
        c.inner(
            &format!("{tag}_zp_axis"),
            Op::Reshape(Reshape { shape }),
            vec![Some(zp)],
        )?
    } else {
        zp
    };
    let z = c.inner(&format!("{tag}_zp"), Op::Cast(Cast { to }), vec![Some(zp)])?;
    bin(c, &format!("{tag}_centred"), BinaryOp::Sub, v, z)
}

fn matmul_integer(c: &mut NodeCtx<'_>) -> Built {
    if let Some(b) = int8::matmul(c, false)? {
        return Ok(b);
    }
    let (a, b) = (c.req(0)?, c.req(1)?);
    let ra = c.dims(a)?.len();
    // A per-row zero point [M] runs along A's rows: shape [M, 1].
    let a_rank = if ra >= 2 { 2 } else { 0 };
    let (za, zb) = (c.input(2), c.input(3));
    let ac = centred(c, "a", a, za, DType::I32, a_rank)?;
    let bc = centred(c, "b", b, zb, DType::I32, 0)?;
    c.emit1(Op::MatMul, vec![Some(ac), Some(bc)])
}

fn conv_integer(c: &mut NodeCtx<'_>) -> Built {
    if let Some(b) = int8::conv(c, false)? {
        return Ok(b);
    }
    let (x, w) = (c.req(0)?, c.req(1)?);
    let op = super::conv_pool::conv_op(c, x, w)?;
    let wr = c.dims(w)?.len();
    let (zx, zw) = (c.input(2), c.input(3));
    let xc = centred(c, "x", x, zx, DType::F32, 0)?;
    let wc = centred(c, "w", w, zw, DType::F32, wr)?;
    let y = c.inner("conv", op, vec![Some(xc), Some(wc)])?;
    c.emit1(Op::Cast(Cast { to: DType::I32 }), vec![Some(y)])
}

/// `saturate(round_half_even(acc · a_scale · b_scale / y_scale + y_zp))` cast to the
/// type of `y_zp` (or `fallback`): the requantization of the QLinear ops.
fn requantize(
    c: &mut NodeCtx<'_>,
    acc: ValueId,
    (a_scale, b_scale): (ValueId, ValueId),
    (y_scale, y_zp): (ValueId, Option<ValueId>),
    fallback: DType,
    per_channel_rank: usize,
) -> Built {
    let q = y_zp.map_or(fallback, |z| c.ty(z).dtype);
    let f32t = |c: &mut NodeCtx<'_>, tag: &str, v: ValueId| {
        c.inner(tag, Op::Cast(Cast { to: DType::F32 }), vec![Some(v)])
    };
    let (sa, sb, sy) = (
        f32t(c, "a_scale_f", a_scale)?,
        f32t(c, "b_scale_f", b_scale)?,
        f32t(c, "y_scale_f", y_scale)?,
    );
    let sab = bin(c, "scale_ab", BinaryOp::Mul, sa, sb)?;
    let mut m = bin(c, "multiplier", BinaryOp::Div, sab, sy)?;
    let md = c.dims(m)?;
    if per_channel_rank > 1 && md.len() == 1 && md[0] > 1 {
        // Per output channel (axis 1 of the result).
        let mut shape = vec![md[0]];
        shape.resize(per_channel_rank - 1, 1);
        m = c.inner(
            "multiplier_axis",
            Op::Reshape(Reshape { shape }),
            vec![Some(m)],
        )?;
    }
    let accf = f32t(c, "acc_f", acc)?;
    let mut v = bin(c, "scaled", BinaryOp::Mul, accf, m)?;
    if let Some(z) = y_zp {
        let zf = f32t(c, "y_zp_f", z)?;
        v = bin(c, "shifted", BinaryOp::Add, v, zf)?;
    }
    let v = c.inner("rounded", Op::Unary(UnaryOp::Round), vec![Some(v)])?;
    let (min, max) = if q == DType::I8 {
        (-128.0, 127.0)
    } else {
        (0.0, 255.0)
    };
    let v = c.inner(
        "saturated",
        Op::Unary(UnaryOp::Clip { min, max }),
        vec![Some(v)],
    )?;
    c.emit1(Op::Cast(Cast { to: q }), vec![Some(v)])
}

fn qlinear_matmul(c: &mut NodeCtx<'_>) -> Built {
    if let Some(b) = int8::matmul(c, true)? {
        return Ok(b);
    }
    let (a, sa, za) = (c.req(0)?, c.req(1)?, c.input(2));
    let (b, sb, zb) = (c.req(3)?, c.req(4)?, c.input(5));
    let (sy, zy) = (c.req(6)?, c.input(7));
    let a_rank = if c.dims(a)?.len() >= 2 { 2 } else { 0 };
    let ac = centred(c, "a", a, za, DType::I32, a_rank)?;
    let bc = centred(c, "b", b, zb, DType::I32, 0)?;
    let acc = c.inner("product", Op::MatMul, vec![Some(ac), Some(bc)])?;
    let fallback = c.ty(a).dtype;
    requantize(c, acc, (sa, sb), (sy, zy), fallback, 0)
}

fn qlinear_conv(c: &mut NodeCtx<'_>) -> Built {
    if let Some(b) = int8::conv(c, true)? {
        return Ok(b);
    }
    let (x, sx, zx) = (c.req(0)?, c.req(1)?, c.input(2));
    let (w, sw, zw) = (c.req(3)?, c.req(4)?, c.input(5));
    let (sy, zy, bias) = (c.req(6)?, c.input(7), c.input(8));
    let op = super::conv_pool::conv_op(c, x, w)?;
    let wr = c.dims(w)?.len();
    let xc = centred(c, "x", x, zx, DType::F32, 0)?;
    let wc = centred(c, "w", w, zw, DType::F32, wr)?;
    let bf = match bias {
        Some(b) => Some(c.inner("bias_f", Op::Cast(Cast { to: DType::F32 }), vec![Some(b)])?),
        None => None,
    };
    let acc = c.inner("conv", op, vec![Some(xc), Some(wc), bf])?;
    let fallback = c.ty(x).dtype;
    let rank = c.dims(x)?.len();
    requantize(c, acc, (sx, sw), (sy, zy), fallback, rank)
}
