//! Matrix products: Gemm and MatMul.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Gemm.html>,
//! <https://onnx.ai/onnx/operators/onnx__MatMul.html>. Gemm's `C` is required before
//! opset 11 and optional from 11 (an absent `C` is simply not added); `C` broadcasts
//! unidirectionally to `[M, N]` from opset 7, so the opset-6 `broadcast` attribute
//! never applies in the supported range.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::Gemm;
use neoc_ir::Op;

pub(crate) const SPECS: &[OpSpec] = &[
    spec("Gemm", 7, 22, gemm, "C optional from opset 11"),
    spec(
        "MatMul",
        7,
        22,
        matmul,
        "numpy matmul: batched, 1-D promoted",
    ),
];

fn gemm(c: &mut NodeCtx<'_>) -> Built {
    let (a, b, bias) = (c.req(0)?, c.req(1)?, c.input(2));
    if bias.is_none() && c.opset < 11 {
        return Err(c.shape_error("input C is required before opset 11"));
    }
    let op = Op::Gemm(Gemm {
        alpha: c.attrs.float("alpha", 1.0)?,
        beta: c.attrs.float("beta", 1.0)?,
        trans_a: c.attrs.flag("transA", false)?,
        trans_b: c.attrs.flag("transB", false)?,
    });
    c.emit1(op, vec![Some(a), Some(b), bias])
}

fn matmul(c: &mut NodeCtx<'_>) -> Built {
    let (a, b) = (c.req(0)?, c.req(1)?);
    c.emit1(Op::MatMul, vec![Some(a), Some(b)])
}
