//! Operators of the `ai.onnx.ml` domain that are plain tensor functions: Binarizer and
//! ArrayFeatureExtractor.
//!
//! Specs: <https://onnx.ai/onnx/operators/onnx_aionnxml_Binarizer.html>,
//! <https://onnx.ai/onnx/operators/onnx_aionnxml_ArrayFeatureExtractor.html> (both
//! unchanged since domain version 1).
//! - Binarizer: `Where(x > threshold, 1, 0)` in the input's type (`threshold` default 0).
//! - ArrayFeatureExtractor: the elements of `x` at `indices` along its last axis, a
//!   Gather; the indices are flattened (the reference selects `x[..., indices.ravel()]`)
//!   and a 1-D `x` gives `[1, k]`, as the reference reshapes it.

use super::OpSpec;
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Gather, Reshape};
use neoc_ir::{Op, Tensor};

/// The domain of these operators.
const DOMAIN: &str = "ai.onnx.ml";

const fn ml_spec(op_type: &'static str, build: super::BuildFn, note: &'static str) -> OpSpec {
    OpSpec {
        op_type,
        domain: DOMAIN,
        min_opset: 1,
        max_opset: 5,
        build,
        note,
    }
}

pub(crate) const SPECS: &[OpSpec] = &[
    ml_spec(
        "Binarizer",
        binarizer,
        "ai.onnx.ml; Where(x > threshold, 1, 0)",
    ),
    ml_spec(
        "ArrayFeatureExtractor",
        array_feature_extractor,
        "ai.onnx.ml; a Gather along the last axis of the flattened indices",
    ),
];

fn binarizer(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let dtype = c.ty(x).dtype;
    if !(dtype.is_float() || dtype.is_int()) {
        return Err(c.shape_error(format!("input must be numeric, got {dtype}")));
    }
    let threshold = f64::from(c.attrs.float("threshold", 0.0)?);
    let k = |c: &mut NodeCtx<'_>, name: &str, v: f64| {
        c.constant(name, Tensor::from_f64_as(dtype, vec![], &[v]))
    };
    let t = k(c, "threshold", threshold);
    let (one, zero) = (k(c, "one", 1.0), k(c, "zero", 0.0));
    let above = c.inner(
        "above",
        Op::Binary(BinaryOp::Greater),
        vec![Some(x), Some(t)],
    )?;
    c.emit1(Op::Where, vec![Some(above), Some(one), Some(zero)])
}

fn array_feature_extractor(c: &mut NodeCtx<'_>) -> Built {
    let (x, idx) = (c.req(0)?, c.req(1)?);
    let xd = c.dims(x)?;
    let id = c.dims(idx)?;
    if xd.is_empty() || !c.ty(idx).dtype.is_int() {
        return Err(c.shape_error(format!(
            "needs an input of rank 1 or more and integer indices, got {xd:?} and {}",
            c.ty(idx).dtype
        )));
    }
    let k: u64 = id.iter().product();
    let flat = c.inner(
        "indices_flat",
        Op::Reshape(Reshape { shape: vec![k] }),
        vec![Some(idx)],
    )?;
    let axis = xd.len() - 1;
    if axis > 0 {
        return c.emit1(Op::Gather(Gather { axis }), vec![Some(x), Some(flat)]);
    }
    let picked = c.inner(
        "picked",
        Op::Gather(Gather { axis }),
        vec![Some(x), Some(flat)],
    )?;
    c.emit1(
        Op::Reshape(Reshape { shape: vec![1, k] }),
        vec![Some(picked)],
    )
}
