//! Cast and CastLike, with the `saturate` attribute of the 8-bit float types.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Cast.html>. The IR `Cast` converts
//! between every element type; into an 8-bit float it rounds to nearest even and
//! saturates (values past the largest finite one, infinities included, become ±max),
//! which is ONNX's default `saturate=1`. `saturate=0` (opset 19+) is desugared here:
//! where `|x|` rounds past the range, the result is the format's overflow code (±inf
//! for E5M2, NaN for the others), else the saturating cast — `Where(|x| > t, ±code,
//! Cast(x))` with `t` the format's overflow threshold. Conversions into the 4-bit
//! integers round to nearest even and clamp (as onnx's reference does); bfloat16 rounds
//! to nearest even.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use crate::reader::{dtype_of, onnx_type_name};
use neoc_ir::ops::{BinaryOp, Cast, UnaryOp};
use neoc_ir::{DType, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "Cast",
        7,
        18,
        cast,
        "to any IR dtype (incl. bfloat16, the 8-bit floats, int4/uint4)",
    ),
    spec(
        "Cast",
        19,
        22,
        cast,
        "`saturate=0` for 8-bit floats: Where(abs(x) past the range, ±inf or NaN, Cast)",
    ),
    spec(
        "CastLike",
        15,
        22,
        cast_like,
        "Cast to the element type of input 1 (with `saturate` from 19)",
    ),
];

fn cast(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let to = c
        .attrs
        .opt_int("to")?
        .ok_or_else(|| c.attr_error("attribute \"to\" is required"))?;
    let code = i32::try_from(to).unwrap_or(-1);
    let to = dtype_of(code).ok_or_else(|| {
        c.attr_error(format!(
            "to = {} is not a supported element type",
            onnx_type_name(code)
        ))
    })?;
    let saturate = c.opset < 19 || c.attrs.int("saturate", 1)? != 0;
    convert(c, x, to, saturate)
}

fn cast_like(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let like = c.req(1)?;
    let to = c.ty(like).dtype;
    let saturate = c.opset < 19 || c.attrs.int("saturate", 1)? != 0;
    convert(c, x, to, saturate)
}

/// Emits the node's output: `x` converted to `to`; without `saturate`, values beyond
/// an 8-bit float's range become its overflow code (see the module docs).
pub(crate) fn convert(c: &mut NodeCtx<'_>, x: ValueId, to: DType, saturate: bool) -> Built {
    let from = c.ty(x).dtype;
    let format = match to.minifloat() {
        Some(f) if !saturate && from != to && from.minifloat().is_none() => f,
        _ => return c.emit1(Op::Cast(Cast { to }), vec![Some(x)]),
    };
    // Compare in f32, the precision the conversion itself rounds from.
    let xf = if from == DType::F32 {
        x
    } else {
        c.inner("f32", Op::Cast(Cast { to: DType::F32 }), vec![Some(x)])?
    };
    let sat = c.inner("saturated", Op::Cast(Cast { to }), vec![Some(xf)])?;
    let abs = c.inner("abs", Op::Unary(UnaryOp::Abs), vec![Some(xf)])?;
    let (t, inclusive) = format.overflow_threshold();
    let t = t as f32;
    // `|x| >= t` as `|x| > next float below t`: false for NaN, which the cast handles.
    let t = if inclusive {
        f32::from_bits(t.to_bits() - 1)
    } else {
        t
    };
    let t = c.constant("threshold", Tensor::from_f32(vec![], &[t]));
    let over = c.inner(
        "overflows",
        Op::Binary(BinaryOp::Greater),
        vec![Some(abs), Some(t)],
    )?;
    let zero = c.constant("zero", Tensor::from_f32(vec![], &[0.0]));
    let negative = c.inner(
        "negative",
        Op::Binary(BinaryOp::Less),
        vec![Some(xf), Some(zero)],
    )?;
    let code = |c: &mut NodeCtx<'_>, name: &str, sign: u8| -> Result<ValueId, neoc_ir::IrError> {
        let t = Tensor::from_bytes(to, vec![], vec![format.overflow_code(sign)].into())
            .map_err(|e| c.op_error(e))?;
        Ok(c.constant(name, t))
    };
    let pos = code(c, "overflow_pos", 0)?;
    let neg = code(c, "overflow_neg", 0x80)?;
    let special = c.inner(
        "overflow",
        Op::Where,
        vec![Some(negative), Some(neg), Some(pos)],
    )?;
    c.emit1(Op::Where, vec![Some(over), Some(special), Some(sat)])
}
