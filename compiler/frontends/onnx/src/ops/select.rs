//! Where, Expand, Trilu, and the boolean ops Not, And, Or, Xor.
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
    spec(
        "Trilu",
        14,
        22,
        trilu,
        "Where(Less/Greater(j - i, k), 0, x); k constant or runtime",
    ),
    spec("Not", 1, 22, not, "desugared: Equal(x, false)"),
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

/// Trilu: keeps the upper (`upper = 1`, default) or lower triangle of the last two dims,
/// counted from diagonal `k`. With `D[i][j] = j − i` a constant, the upper part drops
/// where `D < k` and the lower part where `D > k`: `Where(Less(D, k), 0, x)` resp.
/// `Where(Greater(D, k), 0, x)`. A constant `k` folds the comparison into a constant mask;
/// a runtime `k` (an int64 scalar input) compares at run time.
fn trilu(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    if d.len() < 2 {
        return Err(c.shape_error(format!("needs at least 2-D input, got {d:?}")));
    }
    let k = match c.input(1) {
        Some(k) => k,
        None => c.constant("k", Tensor::from_i64(vec![], &[0])),
    };
    let upper = c.attrs.int("upper", 1)? != 0;
    let (rows, cols) = (d[d.len() - 2] as i64, d[d.len() - 1] as i64);
    let diag: Vec<i64> = (0..rows)
        .flat_map(|i| (0..cols).map(move |j| j - i))
        .collect();
    let diag = c.constant(
        "diagonal",
        Tensor::from_i64(vec![rows as u64, cols as u64], &diag),
    );
    let drop = if upper {
        BinaryOp::Less
    } else {
        BinaryOp::Greater
    };
    let mask = c.inner("drop", Op::Binary(drop), vec![Some(diag), Some(k)])?;
    let dtype = c.ty(x).dtype;
    let zero = c.constant("zero", Tensor::from_f64_as(dtype, vec![], &[0.0]));
    c.emit1(Op::Where, vec![Some(mask), Some(zero), Some(x)])
}
