//! Operator forms of opsets 1–6, imported through the opset-7 builders.
//!
//! Models exported before 2018 (among them the onnx wheel's `pytorch-converted` and
//! `pytorch-operator` sets) use opset 6 or older. For most operators the old form means
//! the same as the opset-7 one: versions 1–6 differ only by the `consumed_inputs`
//! attribute (an in-place hint, ignored) or by nothing. Those run the builder registered
//! for opset 7, which reads the attributes both forms share.
//!
//! Two changes of meaning are handled here:
//! - Binary arithmetic, logic and comparison ops before 7 broadcast only with
//!   `broadcast=1`, and then `B`'s shape is a contiguous run of `A`'s dims starting at
//!   `axis` (the trailing dims when `axis` is absent). `B` is reshaped with trailing 1s so
//!   numpy broadcasting — what the opset-7 builder does — aligns it the same way; without
//!   `broadcast`, the shapes must be equal.
//! - PRelu before 7 takes a 1-D slope of `C` values per channel (axis 1); it is
//!   reshaped to `[C, 1, …]`.
//! - BatchNormalization and Dropout before 7 have `is_test`; `is_test=0` is training
//!   (batch statistics, random drop) and is refused — neoc compiles inference.
//!
//! Changes of meaning not listed here are not imported in their old form (e.g. `Cast`
//! before 6 names its type as a string, `Reshape` before 5 has a `shape` attribute):
//! those ops start at the opset where they took the form the builder reads.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::Reshape;
use neoc_ir::{IrError, Op};

const fn legacy(op: &'static str, min: i64, build: super::BuildFn, note: &'static str) -> OpSpec {
    spec(op, min, 6, build, note)
}

const SAME_NOTE: &str = "as opset 7 (consumed_inputs ignored)";
const BROADCAST_NOTE: &str = "`broadcast=1` with `axis`: B reshaped to align at `axis`";

pub(crate) const SPECS: &[OpSpec] = &[
    legacy("Abs", 1, same, SAME_NOTE),
    legacy("Neg", 1, same, SAME_NOTE),
    legacy("Relu", 1, same, SAME_NOTE),
    legacy("Sigmoid", 1, same, SAME_NOTE),
    legacy("Tanh", 1, same, SAME_NOTE),
    legacy("Exp", 1, same, SAME_NOTE),
    legacy("Log", 1, same, SAME_NOTE),
    legacy("Sqrt", 1, same, SAME_NOTE),
    legacy("Reciprocal", 1, same, SAME_NOTE),
    legacy("Floor", 1, same, SAME_NOTE),
    legacy("Ceil", 1, same, SAME_NOTE),
    legacy("Elu", 1, same, SAME_NOTE),
    legacy("LeakyRelu", 1, same, SAME_NOTE),
    legacy("Selu", 1, same, SAME_NOTE),
    legacy("HardSigmoid", 1, same, SAME_NOTE),
    legacy("Softplus", 1, same, SAME_NOTE),
    legacy("Softsign", 1, same, SAME_NOTE),
    legacy("Softmax", 1, same, SAME_NOTE),
    legacy("LogSoftmax", 1, same, SAME_NOTE),
    legacy(
        "PRelu",
        1,
        prelu,
        "a 1-D slope of C values is per channel (axis 1)",
    ),
    legacy("Conv", 1, same, SAME_NOTE),
    legacy(
        "AveragePool",
        1,
        same,
        "as opset 7; count_include_pad absent (0)",
    ),
    legacy("MaxPool", 1, same, SAME_NOTE),
    legacy("GlobalAveragePool", 1, same, SAME_NOTE),
    legacy("GlobalMaxPool", 1, same, SAME_NOTE),
    legacy("Transpose", 1, same, SAME_NOTE),
    legacy("Flatten", 1, same, SAME_NOTE),
    legacy("Gather", 1, same, SAME_NOTE),
    legacy("MatMul", 1, same, SAME_NOTE),
    legacy("Concat", 4, same, SAME_NOTE),
    legacy(
        "Gemm",
        1,
        same,
        "as opset 7; C broadcasts (`broadcast` ignored)",
    ),
    legacy("Pad", 2, same, SAME_NOTE),
    legacy("Split", 2, same, SAME_NOTE),
    legacy("Squeeze", 1, same, SAME_NOTE),
    legacy("Unsqueeze", 1, same, SAME_NOTE),
    legacy("Slice", 1, same, SAME_NOTE),
    legacy("Clip", 1, same, SAME_NOTE),
    legacy("Max", 1, same, SAME_NOTE),
    legacy("Min", 1, same, SAME_NOTE),
    legacy("Sum", 1, same, SAME_NOTE),
    legacy("Mean", 1, same, SAME_NOTE),
    legacy("InstanceNormalization", 1, same, SAME_NOTE),
    legacy("ReduceMean", 1, same, SAME_NOTE),
    legacy("ReduceSum", 1, same, SAME_NOTE),
    legacy("ReduceMax", 1, same, SAME_NOTE),
    legacy("ReduceMin", 1, same, SAME_NOTE),
    legacy("ReduceProd", 1, same, SAME_NOTE),
    legacy("ReduceL1", 1, same, SAME_NOTE),
    legacy("ReduceL2", 1, same, SAME_NOTE),
    legacy("ReduceLogSum", 1, same, SAME_NOTE),
    legacy("ReduceLogSumExp", 1, same, SAME_NOTE),
    legacy("ReduceSumSquare", 1, same, SAME_NOTE),
    legacy("ArgMax", 1, same, SAME_NOTE),
    legacy("ArgMin", 1, same, SAME_NOTE),
    legacy("Constant", 1, same, SAME_NOTE),
    legacy("Identity", 1, same, SAME_NOTE),
    legacy("Reshape", 5, same, SAME_NOTE),
    legacy("Cast", 6, same, SAME_NOTE),
    legacy("Tile", 6, same, SAME_NOTE),
    legacy("Shape", 1, same, SAME_NOTE),
    legacy("Size", 1, same, SAME_NOTE),
    legacy("DepthToSpace", 1, same, SAME_NOTE),
    legacy("SpaceToDepth", 1, same, SAME_NOTE),
    legacy("Add", 1, broadcasting, BROADCAST_NOTE),
    legacy("Sub", 1, broadcasting, BROADCAST_NOTE),
    legacy("Mul", 1, broadcasting, BROADCAST_NOTE),
    legacy("Div", 1, broadcasting, BROADCAST_NOTE),
    legacy("Pow", 1, broadcasting, BROADCAST_NOTE),
    legacy("And", 1, broadcasting, BROADCAST_NOTE),
    legacy("Or", 1, broadcasting, BROADCAST_NOTE),
    legacy("Xor", 1, broadcasting, BROADCAST_NOTE),
    legacy("Equal", 1, broadcasting, BROADCAST_NOTE),
    legacy("Greater", 1, broadcasting, BROADCAST_NOTE),
    legacy("Less", 1, broadcasting, BROADCAST_NOTE),
    legacy(
        "BatchNormalization",
        1,
        batch_norm,
        "is_test=1 only (inference); then as opset 7",
    ),
    legacy("Dropout", 1, dropout, "is_test=1, or ratio 0: Identity"),
];

/// Runs the opset-7 builder of the node's op.
fn as_opset_7(c: &mut NodeCtx<'_>) -> Built {
    let op = c.op;
    match super::lookup(op, "", 7) {
        Some(s) => (s.build)(c),
        None => Err(IrError::Internal(format!("no opset-7 form of {op}"))),
    }
}

fn same(c: &mut NodeCtx<'_>) -> Built {
    as_opset_7(c)
}

fn broadcasting(c: &mut NodeCtx<'_>) -> Built {
    let (a, b) = (c.req(0)?, c.req(1)?);
    let (ad, bd) = (c.dims(a)?, c.dims(b)?);
    if c.attrs.int("broadcast", 0)? == 0 {
        if ad != bd {
            return Err(c.shape_error(format!(
                "inputs {ad:?} and {bd:?} differ and broadcast is 0 (opset {} needs \
                 broadcast=1 to broadcast)",
                c.opset
            )));
        }
        return as_opset_7(c);
    }
    if let Some(axis) = c.attrs.opt_int("axis")? {
        let axis = c.axis(axis, ad.len())?;
        let fits = axis + bd.len() <= ad.len()
            && bd.iter().zip(&ad[axis..]).all(|(&b, &a)| b == a || b == 1);
        if !fits {
            return Err(c.shape_error(format!(
                "B {bd:?} does not broadcast onto A {ad:?} at axis {axis}"
            )));
        }
        let trailing = ad.len() - axis - bd.len();
        if trailing > 0 {
            let mut shape = bd.clone();
            shape.resize(bd.len() + trailing, 1);
            let aligned = c.inner("aligned_b", Op::Reshape(Reshape { shape }), vec![Some(b)])?;
            c.replace_input(1, aligned);
        }
    }
    as_opset_7(c)
}

/// PRelu before 7: a 1-D slope of `C` values runs along the channel axis (1).
fn prelu(c: &mut NodeCtx<'_>) -> Built {
    let (x, slope) = (c.req(0)?, c.req(1)?);
    let (xd, sd) = (c.dims(x)?, c.dims(slope)?);
    if xd.len() > 2 && sd.len() == 1 && sd[0] == xd[1] && sd[0] > 1 {
        let mut shape = sd.clone();
        shape.resize(xd.len() - 1, 1);
        let aligned = c.inner(
            "channel_slope",
            Op::Reshape(Reshape { shape }),
            vec![Some(slope)],
        )?;
        c.replace_input(1, aligned);
    }
    as_opset_7(c)
}

fn batch_norm(c: &mut NodeCtx<'_>) -> Built {
    if c.attrs.int("is_test", 0)? == 0 {
        return Err(c.attr_error(
            "is_test=0 (training: batch statistics) is not supported; export the model in \
             inference mode",
        ));
    }
    as_opset_7(c)
}

fn dropout(c: &mut NodeCtx<'_>) -> Built {
    if c.attrs.int("is_test", 0)? == 0 && c.attrs.float("ratio", 0.5)? != 0.0 {
        return Err(c.attr_error(
            "is_test=0 with a non-zero ratio drops at random (training); neoc compiles \
             inference",
        ));
    }
    as_opset_7(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_legacy_op_has_an_opset_7_form() {
        for s in SPECS {
            assert!(
                super::super::lookup(s.op_type, "", 7).is_some(),
                "{}",
                s.op_type
            );
        }
    }
}
