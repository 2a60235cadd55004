//! Attention: `scaled_dot_product_attention` and `_native_multi_head_attention` (the
//! fused path `nn.MultiheadAttention` takes in inference, which traced models record).
//!
//! Both are desugared into `MatMul → scale → mask → Softmax → MatMul`, the pattern the
//! optimizer's softmax and attention fusion look for. Masks: a bool mask keeps `True`
//! positions (others get `-inf`), a float mask is added, `is_causal` keeps `j <= i`.
//! Dropout inside attention is random even in eval mode, so `dropout_p > 0` is refused.

use super::call::Call;
use super::linalg::linear_values;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{BinaryOp, Reduce, ReduceKind, Slice, SliceAxis, Softmax};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op(
        "scaled_dot_product_attention",
        sdpa,
        "MatMul, scale, mask, Softmax, MatMul; dropout_p = 0 only",
    ),
    op(
        "_native_multi_head_attention",
        native_mha,
        "projections + attention per head; no mask",
    ),
];

/// `softmax(q·kᵀ·scale + mask)·v` over the last two dims.
fn attention(
    c: &mut Call<'_>,
    q: ValueId,
    k: ValueId,
    v: ValueId,
    scale: f64,
    mask: Option<ValueId>,
    causal: bool,
) -> Result<(ValueId, ValueId), IrError> {
    let r = c.rank(k);
    if r < 2 || c.rank(q) < 2 {
        return Err(c.err("attention needs query and key of rank 2 or more"));
    }
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 1, r - 2);
    let kt = c.transpose(k, &perm)?;
    let s = c.add(Op::MatMul, &[q, kt])?;
    let mut s = c.binary_scalar(BinaryOp::Mul, s, scale)?;
    let dt = c.dtype(s);
    let sd = c.dims(s)?;
    let (l, n) = (sd[sd.len() - 2], sd[sd.len() - 1]);
    if causal {
        let cells = c.built_elements(&[l, n], DType::Bool)? as usize;
        let keep: Vec<f64> = (0..cells)
            .map(|i| f64::from(u8::from((i as u64 % n) <= (i as u64 / n))))
            .collect();
        let m = c.konst(Tensor::from_f64_as(DType::Bool, vec![l, n], &keep));
        let ninf = c.scalar(dt, f64::NEG_INFINITY);
        s = c.add(Op::Where, &[m, s, ninf])?;
    }
    if let Some(m) = mask {
        if c.dtype(m) == DType::Bool {
            let ninf = c.scalar(dt, f64::NEG_INFINITY);
            s = c.add(Op::Where, &[m, s, ninf])?;
        } else {
            let m = c.cast(m, dt)?;
            s = c.binary(BinaryOp::Add, s, m)?;
        }
    }
    let last = c.rank(s) - 1;
    let p = c.add(
        Op::Softmax(Softmax {
            axis: last,
            log: false,
        }),
        &[s],
    )?;
    let o = c.add(Op::MatMul, &[p, v])?;
    Ok((o, p))
}

/// `scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal,
/// scale, enable_gqa)`.
fn sdpa(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let q = c.tensor(0, "query")?;
    let k = c.tensor(1, "key")?;
    let v = c.tensor(2, "value")?;
    let mask = c.opt_tensor(3, "attn_mask")?;
    if c.float(4, "dropout_p", 0.0)? != 0.0 {
        return Err(c.attr_err(
            "dropout_p > 0 draws random masks (even in eval mode); pass dropout_p=0.0 for \
             inference",
        ));
    }
    let causal = c.bool(5, "is_causal", false)?;
    let qd = c.dims(q)?;
    let e = *qd.last().unwrap_or(&1) as f64;
    let scale = c.opt_float(6, "scale")?.unwrap_or(1.0 / e.sqrt());
    if c.bool(7, "enable_gqa", false)? {
        let kd = c.dims(k)?;
        let heads = |d: &[u64]| d.len().checked_sub(3).map(|i| d[i]);
        if heads(&qd) != heads(&kd) {
            return Err(c.attr_err("grouped-query attention (enable_gqa) is not supported"));
        }
    }
    let (o, _) = attention(c, q, k, v, scale, mask, causal)?;
    Ok(vec![Val::Tensor(o)])
}

fn rows(c: &mut Call<'_>, w: ValueId, start: u64, end: u64) -> Result<ValueId, IrError> {
    c.add(
        Op::Slice(Slice {
            axes: vec![SliceAxis {
                axis: 0,
                start: start as i64,
                end: end as i64,
                step: 1,
            }],
        }),
        &[w],
    )
}

/// `[B, L, E]` → `[B, H, L, E/H]`.
fn heads(c: &mut Call<'_>, x: ValueId, h: u64) -> Result<ValueId, IrError> {
    let d = c.dims(x)?;
    let x = c.reshape(x, &[d[0], d[1], h, d[2] / h])?;
    c.transpose(x, &[0, 2, 1, 3])
}

/// `_native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight,
/// qkv_bias, proj_weight, proj_bias, mask, need_weights, average_attn_weights,
/// mask_type)`; batch-first `[B, L, E]` inputs.
fn native_mha(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let query = c.tensor(0, "query")?;
    let key = c.tensor(1, "key")?;
    let value = c.tensor(2, "value")?;
    let e = u64::try_from(c.req_int(3, "embed_dim")?).map_err(|_| c.attr_err("embed_dim"))?;
    let h = u64::try_from(c.req_int(4, "num_head")?).map_err(|_| c.attr_err("num_head"))?;
    if h == 0 || e % h != 0 {
        return Err(c.attr_err(format!("embed_dim {e} does not split into {h} heads")));
    }
    let w = c.tensor(5, "qkv_weight")?;
    let b = c.opt_tensor(6, "qkv_bias")?;
    let pw = c.tensor(7, "proj_weight")?;
    let pb = c.opt_tensor(8, "proj_bias")?;
    if c.has(9, "mask") {
        return Err(c.attr_err("_native_multi_head_attention with a mask is not supported"));
    }
    let need_weights = c.bool(10, "need_weights", true)?;
    let average = c.bool(11, "average_attn_weights", true)?;
    for x in [query, key, value] {
        let d = c.dims(x)?;
        if d.len() != 3 || d[2] != e {
            return Err(c.err(format!("inputs must be [batch, seq, {e}], got {d:?}")));
        }
    }
    let mut proj = Vec::new();
    for (i, x) in [query, key, value].into_iter().enumerate() {
        let i = i as u64;
        let wi = rows(c, w, i * e, (i + 1) * e)?;
        let bi = match b {
            Some(b) => Some(rows(c, b, i * e, (i + 1) * e)?),
            None => None,
        };
        let y = linear_values(c, x, wi, bi)?;
        proj.push(heads(c, y, h)?);
    }
    let scale = 1.0 / ((e / h) as f64).sqrt();
    let (o, p) = attention(c, proj[0], proj[1], proj[2], scale, None, false)?;
    let od = c.dims(o)?;
    let o = c.transpose(o, &[0, 2, 1, 3])?;
    let o = c.reshape(o, &[od[0], od[2], e])?;
    let out = linear_values(c, o, pw, pb)?;
    if !need_weights {
        return Ok(vec![Val::Tensor(out), Val::None]);
    }
    let weights = if average {
        c.add(
            Op::Reduce(Reduce {
                kind: ReduceKind::Mean,
                axes: vec![1],
                keepdims: false,
            }),
            &[p],
        )?
    } else {
        p
    };
    Ok(vec![Val::Tensor(out), Val::Tensor(weights)])
}
