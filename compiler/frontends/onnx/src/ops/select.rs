//! Where, Expand, and the boolean ops Not, And, Or, Xor.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Where.html> (opset 9),
//! <https://onnx.ai/onnx/operators/onnx__Expand.html> (opset 8). Notes:
//! - Where broadcasts its three inputs numpy-style.
//! - Expand's shape input must be a constant after folding; the output shape is the
//!   (bidirectional) broadcast of the input shape and the requested one, so a requested
//!   `1` keeps the input's dim and the output may be larger than requested.
//! - The boolean ops have no IR ops of their own: `And(a, b) = Where(a, b, false)`,
//!   `Or(a, b) = Where(a, true, b)`, `Not(a) = Equal(a, false)` and
//!   `Xor(a, b) = Not(Equal(a, b))`, all on `bool` tensors (opset 7 broadcasting).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Expand};
use neoc_ir::shape::broadcast_shapes;
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("Where", 9, 22, where_, "three-way numpy broadcasting"),
    spec(
        "Expand",
        8,
        22,
        expand,
        "shape input must be constant; bidirectional broadcast",
    ),
    spec("Not", 7, 22, not, "desugared: Equal(x, false)"),
    spec("And", 7, 22, and, "desugared: Where(a, b, false)"),
    spec("Or", 7, 22, or, "desugared: Where(a, true, b)"),
    spec("Xor", 7, 22, xor, "desugared: Not(Equal(a, b))"),
];

fn where_(c: &mut NodeCtx<'_>) -> Built {
    let (cond, x, y) = (c.req(0)?, c.req(1)?, c.req(2)?);
    c.emit1(Op::Where, vec![Some(cond), Some(x), Some(y)])
}

fn expand(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let requested = c
        .const_ints(1, "shape")?
        .ok_or_else(|| c.shape_error("input 1 (shape) is required"))?;
    let requested: Vec<u64> = requested
        .iter()
        .map(|&v| u64::try_from(v))
        .collect::<Result<_, _>>()
        .map_err(|_| c.shape_error(format!("shape {requested:?} has a negative dim")))?;
    let shape = broadcast_shapes(&[&d, &requested]).map_err(|e| c.op_error(e))?;
    c.emit1(Op::Expand(Expand { shape }), vec![Some(x)])
}

/// A `bool` scalar constant named `<node>/<suffix>`.
fn boolean(c: &mut NodeCtx<'_>, suffix: &str, v: bool) -> ValueId {
    c.constant(
        suffix,
        Tensor::from_f64_as(DType::Bool, vec![], &[f64::from(u8::from(v))]),
    )
}

/// The node's inputs `0..n`, checked to be `bool`.
fn bool_inputs(c: &NodeCtx<'_>, n: usize) -> Result<Vec<ValueId>, IrError> {
    (0..n)
        .map(|i| {
            let v = c.req(i)?;
            match c.ty(v).dtype {
                DType::Bool => Ok(v),
                t => Err(c.shape_error(format!("input {i} must be bool, got {t}"))),
            }
        })
        .collect()
}

fn not(c: &mut NodeCtx<'_>) -> Built {
    let a = bool_inputs(c, 1)?[0];
    let f = boolean(c, "false", false);
    c.emit1(Op::Binary(BinaryOp::Equal), vec![Some(a), Some(f)])
}

fn and(c: &mut NodeCtx<'_>) -> Built {
    let v = bool_inputs(c, 2)?;
    let f = boolean(c, "false", false);
    c.emit1(Op::Where, vec![Some(v[0]), Some(v[1]), Some(f)])
}

fn or(c: &mut NodeCtx<'_>) -> Built {
    let v = bool_inputs(c, 2)?;
    let t = boolean(c, "true", true);
    c.emit1(Op::Where, vec![Some(v[0]), Some(t), Some(v[1])])
}

fn xor(c: &mut NodeCtx<'_>) -> Built {
    let v = bool_inputs(c, 2)?;
    let eq = c.inner(
        "equal",
        Op::Binary(BinaryOp::Equal),
        vec![Some(v[0]), Some(v[1])],
    )?;
    let f = boolean(c, "false", false);
    c.emit1(Op::Binary(BinaryOp::Equal), vec![Some(eq), Some(f)])
}
