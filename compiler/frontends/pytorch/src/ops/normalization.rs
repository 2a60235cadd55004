//! Normalisation and softmax: batch norm (inference), layer norm, group norm, softmax
//! and log-softmax.
//!
//! Only inference forms are imported: a batch norm in training mode (batch statistics)
//! is refused by name. The extra outputs of the `native_*` forms (saved mean and
//! inverse std) are not produced; a model that reads them is refused where it does.
//! Group norm is desugared into a layer norm over `[N, G, C/G·HW]` and a per-channel
//! affine, which the optimizer handles like any other layer norm.

use super::call::Call;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{BatchNorm, BinaryOp, LayerNorm, Softmax};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op("batch_norm", batch_norm, "inference (training=False) only"),
    op(
        "_native_batch_norm_legit_no_training",
        native_batch_norm_no_training,
        "the saved mean/invstd outputs are not produced",
    ),
    op(
        "native_batch_norm",
        native_batch_norm,
        "training=False only; the saved mean/invstd outputs are not produced",
    ),
    op(
        "_native_batch_norm_legit",
        native_batch_norm,
        "training=False only; the saved mean/invstd outputs are not produced",
    ),
    op("layer_norm", layer_norm, ""),
    op(
        "native_layer_norm",
        native_layer_norm,
        "the mean/rstd outputs are not produced",
    ),
    op(
        "group_norm",
        group_norm,
        "layer norm over groups + per-channel affine",
    ),
    op(
        "native_group_norm",
        native_group_norm,
        "the mean/rstd outputs are not produced",
    ),
    op("softmax", softmax, "dtype argument casts first"),
    op("_softmax", softmax, ""),
    op("log_softmax", log_softmax, "dtype argument casts first"),
    op("_log_softmax", log_softmax, ""),
];

fn one(v: ValueId) -> Result<Vec<Val>, IrError> {
    Ok(vec![Val::Tensor(v)])
}

/// `weight`/`bias` of a channel-wise op, or a constant fill of `len` values.
fn affine(
    c: &mut Call<'_>,
    v: Option<ValueId>,
    len: u64,
    dtype: DType,
    fill: f64,
) -> Result<ValueId, IrError> {
    match v {
        Some(v) => Ok(v),
        None => {
            let n = c.built_elements(&[len], dtype)? as usize;
            Ok(c.konst(Tensor::from_f64_as(dtype, vec![len], &vec![fill; n])))
        }
    }
}

/// Inference batch norm from argument positions: input 0, weight 1, bias 2, mean 3,
/// var 4, `eps` at `eps_at`.
fn bn(c: &mut Call<'_>, eps_at: usize) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let xd = c.dims(x)?;
    if xd.len() < 2 {
        return Err(c.err(format!("batch norm input {xd:?} has no channel dim")));
    }
    let dt = c.dtype(x);
    let w = c.opt_tensor(1, "weight")?;
    let b = c.opt_tensor(2, "bias")?;
    let w = affine(c, w, xd[1], dt, 1.0)?;
    let b = affine(c, b, xd[1], dt, 0.0)?;
    let mean = c.tensor(3, "running_mean")?;
    let var = c.tensor(4, "running_var")?;
    let epsilon = c.float(eps_at, "eps", 1e-5)? as f32;
    one(c.add(Op::BatchNorm(BatchNorm { epsilon }), &[x, w, b, mean, var])?)
}

/// `batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
/// cudnn_enabled)`.
fn batch_norm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    if c.bool(5, "training", false)? {
        return Err(c.attr_err(
            "batch norm in training mode (batch statistics) is not supported; export the \
             model after model.eval()",
        ));
    }
    bn(c, 7)
}

/// `_native_batch_norm_legit_no_training(input, weight, bias, running_mean,
/// running_var, momentum, eps)`.
fn native_batch_norm_no_training(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    with_unproduced(bn(c, 6)?, 2)
}

/// `outs` followed by `n` outputs this frontend does not produce (`None`; a model
/// that reads one is refused where it does).
fn with_unproduced(mut outs: Vec<Val>, n: usize) -> Result<Vec<Val>, IrError> {
    outs.extend(std::iter::repeat_n(Val::None, n));
    Ok(outs)
}

/// `native_batch_norm(input, weight, bias, running_mean, running_var, training,
/// momentum, eps)`.
fn native_batch_norm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    if c.bool(5, "training", false)? {
        return Err(c.attr_err(
            "batch norm in training mode (batch statistics) is not supported; export the \
             model after model.eval()",
        ));
    }
    with_unproduced(bn(c, 7)?, 2)
}

fn layer_norm_impl(c: &mut Call<'_>, eps_at: usize) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let shape = c.ints(1, "normalized_shape")?;
    let w = c.opt_tensor(2, "weight")?;
    let b = c.opt_tensor(3, "bias")?;
    let epsilon = c.float(eps_at, "eps", 1e-5)? as f32;
    let xd = c.dims(x)?;
    if shape.is_empty() || shape.len() > xd.len() {
        return Err(c.attr_err(format!(
            "normalized_shape {shape:?} does not fit input {xd:?}"
        )));
    }
    let axis = xd.len() - shape.len();
    if xd[axis..].iter().zip(&shape).any(|(&d, &s)| d as i64 != s) {
        return Err(c.err(format!(
            "normalized_shape {shape:?} is not the trailing shape of input {xd:?}"
        )));
    }
    let ln = Op::LayerNorm(LayerNorm { axis, epsilon });
    // A bias without a weight needs an explicit weight of ones.
    let w = match (w, b) {
        (None, Some(_)) => {
            let dims: Vec<u64> = xd[axis..].to_vec();
            let n = c.built_elements(&dims, c.dtype(x))? as usize;
            Some(c.konst(Tensor::from_f64_as(c.dtype(x), dims, &vec![1.0; n])))
        }
        _ => w,
    };
    one(c.add_opt(ln, vec![Some(x), w, b])?)
}

/// `layer_norm(input, normalized_shape, weight, bias, eps, cudnn_enable)`.
fn layer_norm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    layer_norm_impl(c, 4)
}

/// `native_layer_norm(input, normalized_shape, weight, bias, eps)`.
fn native_layer_norm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    with_unproduced(layer_norm_impl(c, 4)?, 2)
}

/// Group norm of `x [N, C, *]` with `groups`, then `weight`/`bias` per channel.
fn group_norm_impl(
    c: &mut Call<'_>,
    x: ValueId,
    groups: i64,
    w: Option<ValueId>,
    b: Option<ValueId>,
    epsilon: f32,
) -> Result<Vec<Val>, IrError> {
    let xd = c.dims(x)?;
    let g = u64::try_from(groups).ok().filter(|&g| g > 0);
    let (Some(g), true) = (g, xd.len() >= 2) else {
        return Err(c.attr_err(format!("group norm of {xd:?} with {groups} groups")));
    };
    if xd[1] % g != 0 {
        return Err(c.err(format!("{} channels do not split into {g} groups", xd[1])));
    }
    let rest: u64 = xd[1..].iter().product::<u64>() / g;
    let grouped = c.reshape(x, &[xd[0], g, rest])?;
    let n = c.add(Op::LayerNorm(LayerNorm { axis: 2, epsilon }), &[grouped])?;
    let mut y = c.reshape(n, &xd)?;
    let mut cshape = vec![xd[1]];
    cshape.extend(std::iter::repeat_n(1, xd.len() - 2));
    if let Some(w) = w {
        let w = c.reshape(w, &cshape)?;
        y = c.binary(BinaryOp::Mul, y, w)?;
    }
    if let Some(b) = b {
        let b = c.reshape(b, &cshape)?;
        y = c.binary(BinaryOp::Add, y, b)?;
    }
    one(y)
}

/// `group_norm(input, num_groups, weight, bias, eps, cudnn_enabled)`.
fn group_norm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let groups = c.req_int(1, "num_groups")?;
    let w = c.opt_tensor(2, "weight")?;
    let b = c.opt_tensor(3, "bias")?;
    let eps = c.float(4, "eps", 1e-5)? as f32;
    group_norm_impl(c, x, groups, w, b, eps)
}

/// `native_group_norm(input, weight, bias, N, C, HxW, group, eps)`.
fn native_group_norm(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let w = c.opt_tensor(1, "weight")?;
    let b = c.opt_tensor(2, "bias")?;
    let groups = c.req_int(6, "group")?;
    let eps = c.float(7, "eps", 1e-5)? as f32;
    with_unproduced(group_norm_impl(c, x, groups, w, b, eps)?, 2)
}

fn softmax_impl(c: &mut Call<'_>, log: bool) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let dim = c.req_int(1, "dim")?;
    // `softmax(self, dim, dtype)` casts first; `_softmax(self, dim, half_to_float)`
    // has a bool there.
    let x = match c.get(2, "dtype") {
        Some(Val::Int(_)) => match c.opt_dtype(2, "dtype")? {
            Some(d) => c.cast(x, d)?,
            None => x,
        },
        _ => x,
    };
    let axis = c.axis(dim, c.rank(x).max(1))?;
    if c.rank(x) == 0 {
        let x1 = c.reshape(x, &[1])?;
        let s = c.add(Op::Softmax(Softmax { axis: 0, log }), &[x1])?;
        return one(c.reshape(s, &[])?);
    }
    one(c.add(Op::Softmax(Softmax { axis, log }), &[x])?)
}

fn softmax(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    softmax_impl(c, false)
}

fn log_softmax(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    softmax_impl(c, true)
}
