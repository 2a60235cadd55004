//! Matrix products: `linear`, `addmm`, `mm`, `bmm`, `matmul`, `baddbmm`.
//!
//! `linear` keeps its weight as stored (`[out, in]`) and becomes a `Gemm` with
//! `trans_b`, the bias as `C`; inputs of rank above 2 are flattened to 2-D around it
//! (free reshapes), so every linear layer is one GEMM the epilogue fusion can extend.
//! torch.export's core form (`addmm(bias, x, permute(w))`) maps to the same Gemm; the
//! permute of a constant weight folds at import.

use super::call::Call;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{BinaryOp, Gemm};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op(
        "linear",
        linear,
        "Gemm(trans_b) with the bias as C; N-d inputs flattened to 2-D",
    ),
    op("addmm", addmm, "Gemm with alpha, beta"),
    op("mm", matmul, "MatMul"),
    op("bmm", matmul, "MatMul"),
    op("matmul", matmul, "MatMul (numpy semantics)"),
    op("baddbmm", baddbmm, "beta * self + alpha * MatMul"),
];

fn one(v: ValueId) -> Result<Vec<Val>, IrError> {
    Ok(vec![Val::Tensor(v)])
}

fn linear(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let w = c.tensor(1, "weight")?;
    let b = c.opt_tensor(2, "bias")?;
    one(linear_values(c, x, w, b)?)
}

/// `x · wᵀ + b` for `w [out, in]`, as a 2-D Gemm between reshapes.
pub(crate) fn linear_values(
    c: &mut Call<'_>,
    x: ValueId,
    w: ValueId,
    b: Option<ValueId>,
) -> Result<ValueId, IrError> {
    let xd = c.dims(x)?;
    let wd = c.dims(w)?;
    if wd.len() != 2 || xd.is_empty() {
        return Err(c.err(format!(
            "linear needs a 2-D weight and an input of rank 1 or more, got {:?} and {:?}",
            wd, xd
        )));
    }
    let k = xd[xd.len() - 1];
    let rows: u64 = xd[..xd.len() - 1].iter().product();
    let x2 = c.reshape(x, &[rows, k])?;
    let gemm = Op::Gemm(Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: true,
    });
    let y = c.add_opt(gemm, vec![Some(x2), Some(w), b])?;
    let mut out = xd[..xd.len() - 1].to_vec();
    out.push(wd[0]);
    c.reshape(y, &out)
}

fn addmm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let bias = c.tensor(0, "self")?;
    let a = c.tensor(1, "mat1")?;
    let b = c.tensor(2, "mat2")?;
    let beta = c.float(3, "beta", 1.0)? as f32;
    let alpha = c.float(4, "alpha", 1.0)? as f32;
    let gemm = Op::Gemm(Gemm {
        alpha,
        beta,
        trans_a: false,
        trans_b: false,
    });
    one(c.add(gemm, &[a, b, bias])?)
}

fn matmul(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let a = c.tensor(0, "self")?;
    let b = if c.has(1, "mat2") {
        c.tensor(1, "mat2")?
    } else {
        c.tensor(1, "other")?
    };
    one(c.add(Op::MatMul, &[a, b])?)
}

fn baddbmm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let s = c.tensor(0, "self")?;
    let a = c.tensor(1, "batch1")?;
    let b = c.tensor(2, "batch2")?;
    let beta = c.float(3, "beta", 1.0)?;
    let alpha = c.float(4, "alpha", 1.0)?;
    let mut p = c.add(Op::MatMul, &[a, b])?;
    if alpha != 1.0 {
        p = c.binary_scalar(BinaryOp::Mul, p, alpha)?;
    }
    if beta == 0.0 {
        return one(p);
    }
    let s = if beta == 1.0 {
        s
    } else {
        c.binary_scalar(BinaryOp::Mul, s, beta)?
    };
    one(c.binary(BinaryOp::Add, s, p)?)
}
