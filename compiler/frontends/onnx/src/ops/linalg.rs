//! Matrix products and determinants: Gemm, MatMul, Det.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Gemm.html>,
//! <https://onnx.ai/onnx/operators/onnx__MatMul.html>,
//! <https://onnx.ai/onnx/operators/onnx__Det.html>. Gemm's `C` is required before
//! opset 11 and optional from 11 (an absent `C` is simply not added); `C` broadcasts
//! unidirectionally to `[M, N]` from opset 7, so the opset-6 `broadcast` attribute
//! never applies in the supported range.
//!
//! Det of `[..., n, n]` is the Leibniz sum `Σ_σ sgn(σ) Π_i x[i, σ(i)]` over the `n!`
//! permutations: one Gather of the flattened matrices by a constant `[n!, n]` index
//! table, ReduceProd, a product with the constant signs and ReduceSum — four kernels
//! with no data-dependent control flow. It is exact in the sense of the products it
//! takes (no pivoting error), and limited to `n ≤ 6` (720 terms); a larger matrix is a
//! clear error.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Gather, Gemm, Reduce, ReduceKind, Reshape};
use neoc_ir::{Op, Tensor};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("Gemm", 7, 22, gemm, "C optional from opset 11"),
    spec(
        "MatMul",
        7,
        22,
        matmul,
        "numpy matmul: batched, 1-D promoted",
    ),
    spec(
        "Det",
        11,
        22,
        det,
        "Leibniz sum: Gather by a permutation table, ReduceProd, signs, ReduceSum; n ≤ 6",
    ),
];

/// The largest matrix Det expands (6! = 720 products).
const MAX_DET_N: u64 = 6;

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

fn det(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let rank = xd.len();
    if rank < 2 || xd[rank - 1] != xd[rank - 2] || !c.ty(x).dtype.is_float() {
        return Err(c.shape_error(format!(
            "input {xd:?} must be float square matrices [..., n, n]"
        )));
    }
    let n = xd[rank - 1];
    if n > MAX_DET_N {
        return Err(c.shape_error(format!(
            "Det of {n}×{n} matrices is not supported (at most {MAX_DET_N}×{MAX_DET_N})"
        )));
    }
    let perms = permutations(n as usize);
    let count = perms.len() as u64;
    let mut index = Vec::with_capacity(perms.len() * n as usize);
    let mut signs = Vec::with_capacity(perms.len());
    for (p, sign) in &perms {
        index.extend(
            p.iter()
                .enumerate()
                .map(|(i, &j)| (i as u64 * n + j as u64) as i64),
        );
        signs.push(*sign);
    }
    let mut flat = xd[..rank - 2].to_vec();
    flat.push(n * n);
    let flat = c.inner("flat", Op::Reshape(Reshape { shape: flat }), vec![Some(x)])?;
    let index = c.constant("terms", Tensor::from_i64(vec![count, n], &index));
    let axis = rank - 2;
    let factors = c.inner(
        "factors",
        Op::Gather(Gather { axis }),
        vec![Some(flat), Some(index)],
    )?;
    let products = c.inner(
        "products",
        Op::Reduce(Reduce {
            kind: ReduceKind::Prod,
            axes: vec![axis + 1],
            keepdims: false,
        }),
        vec![Some(factors)],
    )?;
    let dtype = c.ty(x).dtype;
    let signs = c.constant("signs", Tensor::from_f64_as(dtype, vec![count], &signs));
    let signed = c.inner(
        "signed",
        Op::Binary(BinaryOp::Mul),
        vec![Some(products), Some(signs)],
    )?;
    c.emit1(
        Op::Reduce(Reduce {
            kind: ReduceKind::Sum,
            axes: vec![axis],
            keepdims: false,
        }),
        vec![Some(signed)],
    )
}

/// Every permutation of `0..n` with its sign (Heap's algorithm).
fn permutations(n: usize) -> Vec<(Vec<usize>, f64)> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut out = vec![(p.clone(), 1.0)];
    let mut counters = vec![0usize; n];
    let mut sign = 1.0;
    let mut i = 1;
    while i < n {
        if counters[i] < i {
            let j = if i % 2 == 0 { 0 } else { counters[i] };
            p.swap(j, i);
            sign = -sign;
            out.push((p.clone(), sign));
            counters[i] += 1;
            i = 1;
        } else {
            counters[i] = 0;
            i += 1;
        }
    }
    out
}
