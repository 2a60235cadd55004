//! Attention: `scaled_dot_product_attention`, and the fused inference paths that
//! traced models record: `_native_multi_head_attention` (`nn.MultiheadAttention`) and
//! `_transformer_encoder_layer_fwd` (`nn.TransformerEncoderLayer`).
//!
//! All are desugared into `MatMul → scale → mask → Softmax → MatMul`, the pattern the
//! optimizer's softmax and attention fusion look for. Masks: for sdpa a bool mask keeps
//! `True` positions (others get `-inf`); for the `nn` fast paths a bool mask drops
//! `True` positions (torch's `key_padding_mask` convention, `mask_type` 1 for `[B, S]`
//! padding masks, 0 for `[L, S]`, 2 for merged `[B, H, L, S]` masks); float masks are
//! added; `is_causal` keeps `j <= i`. Dropout inside attention is random even in eval
//! mode, so `dropout_p > 0` is refused.

use super::call::Call;
use super::linalg::linear_values;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::{BinaryOp, LayerNorm, Reduce, ReduceKind, Softmax, UnaryOp};
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
        "projections + attention per head; padding and attention masks",
    ),
    op(
        "_transformer_encoder_layer_fwd",
        encoder_layer,
        "attention + FFN (relu or gelu), norm_first or not; masks",
    ),
];

/// How a mask applies to the attention scores.
#[derive(Debug, Clone, Copy)]
enum Mask {
    /// A bool mask: `True` keeps the position (sdpa).
    Keep(ValueId),
    /// A bool mask: `True` drops the position (`nn.MultiheadAttention`).
    Drop(ValueId),
    /// A float mask added to the scores.
    Add(ValueId),
}

/// `softmax(q·kᵀ·scale + mask)·v` over the last two dims.
fn attention(
    c: &mut Call<'_>,
    q: ValueId,
    k: ValueId,
    v: ValueId,
    scale: f64,
    mask: Option<Mask>,
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
    match mask {
        Some(Mask::Keep(m)) => {
            let ninf = c.scalar(dt, f64::NEG_INFINITY);
            s = c.add(Op::Where, &[m, s, ninf])?;
        }
        Some(Mask::Drop(m)) => {
            let ninf = c.scalar(dt, f64::NEG_INFINITY);
            s = c.add(Op::Where, &[m, ninf, s])?;
        }
        Some(Mask::Add(m)) => {
            let m = c.cast(m, dt)?;
            s = c.binary(BinaryOp::Add, s, m)?;
        }
        None => {}
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
    let mask = match c.opt_tensor(3, "attn_mask")? {
        Some(m) if c.dtype(m) == DType::Bool => Some(Mask::Keep(m)),
        Some(m) => Some(Mask::Add(m)),
        None => None,
    };
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
    c.slice1(w, 0, start, end)
}

/// `[B, L, E]` → `[B, H, L, E/H]`.
fn heads(c: &mut Call<'_>, x: ValueId, h: u64) -> Result<ValueId, IrError> {
    let d = c.dims(x)?;
    let x = c.reshape(x, &[d[0], d[1], h, d[2] / h])?;
    c.transpose(x, &[0, 2, 1, 3])
}

/// The weights of a fused multi-head attention.
struct MhaWeights {
    e: u64,
    h: u64,
    w: ValueId,
    b: Option<ValueId>,
    pw: ValueId,
    pb: Option<ValueId>,
}

/// The `nn.MultiheadAttention` mask of `mask_type` as a score mask: bool masks drop
/// `True` positions, float masks add.
fn mha_mask(
    c: &mut Call<'_>,
    m: ValueId,
    mask_type: Option<i64>,
    b: u64,
    h: u64,
) -> Result<Mask, IrError> {
    let md = c.dims(m)?;
    let m = match (mask_type, md.len()) {
        // [B, S] key padding → [B, 1, 1, S].
        (Some(1), 2) | (None, 2) if md[0] == b && b != 0 => c.reshape(m, &[md[0], 1, 1, md[1]])?,
        // [L, S] attention mask broadcasts as is; [B, H, L, S] is already merged.
        (_, 2) | (_, 4) => m,
        (_, 3) => c.reshape(m, &[md[0] / h.max(1), h, md[1], md[2]])?,
        _ => return Err(c.attr_err(format!("a mask of shape {md:?} (type {mask_type:?})"))),
    };
    Ok(if c.dtype(m) == DType::Bool {
        Mask::Drop(m)
    } else {
        Mask::Add(m)
    })
}

/// Batch-first multi-head attention: the `[B, L, E]` output and the `[B, H, L, S]`
/// probabilities.
fn mha(
    c: &mut Call<'_>,
    q: ValueId,
    k: ValueId,
    v: ValueId,
    wt: &MhaWeights,
    mask: Option<Mask>,
) -> Result<(ValueId, ValueId), IrError> {
    let e = wt.e;
    for x in [q, k, v] {
        let d = c.dims(x)?;
        if d.len() != 3 || d[2] != e {
            return Err(c.err(format!("inputs must be [batch, seq, {e}], got {d:?}")));
        }
    }
    let mut proj = Vec::new();
    for (i, x) in [q, k, v].into_iter().enumerate() {
        let i = i as u64;
        let wi = rows(c, wt.w, i * e, (i + 1) * e)?;
        let bi = match wt.b {
            Some(b) => Some(rows(c, b, i * e, (i + 1) * e)?),
            None => None,
        };
        let y = linear_values(c, x, wi, bi)?;
        proj.push(heads(c, y, wt.h)?);
    }
    let scale = 1.0 / ((e / wt.h) as f64).sqrt();
    let (o, p) = attention(c, proj[0], proj[1], proj[2], scale, mask, false)?;
    let od = c.dims(o)?;
    let o = c.transpose(o, &[0, 2, 1, 3])?;
    let o = c.reshape(o, &[od[0], od[2], e])?;
    Ok((linear_values(c, o, wt.pw, wt.pb)?, p))
}

fn mha_weights(c: &Call<'_>, at: usize) -> Result<MhaWeights, IrError> {
    let e = u64::try_from(c.req_int(at, "embed_dim")?).map_err(|_| c.attr_err("embed_dim"))?;
    let h = u64::try_from(
        c.req_int(at + 1, "num_head")
            .or_else(|_| c.req_int(at + 1, "num_heads"))?,
    )
    .map_err(|_| c.attr_err("num_heads"))?;
    if h == 0 || e % h != 0 {
        return Err(c.attr_err(format!("embed_dim {e} does not split into {h} heads")));
    }
    Ok(MhaWeights {
        e,
        h,
        w: c.tensor(at + 2, "qkv_weight")?,
        b: c.opt_tensor(at + 3, "qkv_bias")?,
        pw: c.tensor(at + 4, "proj_weight")?,
        pb: c.opt_tensor(at + 5, "proj_bias")?,
    })
}

/// `_native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight,
/// qkv_bias, proj_weight, proj_bias, mask, need_weights, average_attn_weights,
/// mask_type)`; batch-first `[B, L, E]` inputs.
fn native_mha(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let query = c.tensor(0, "query")?;
    let key = c.tensor(1, "key")?;
    let value = c.tensor(2, "value")?;
    let wt = mha_weights(c, 3)?;
    let need_weights = c.bool(10, "need_weights", true)?;
    let average = c.bool(11, "average_attn_weights", true)?;
    let mask_type = c.opt_int(12, "mask_type")?;
    let mask = match c.opt_tensor(9, "mask")? {
        Some(m) => {
            let b = c.dims(query)?.first().copied().unwrap_or(0);
            Some(mha_mask(c, m, mask_type, b, wt.h)?)
        }
        None => None,
    };
    let (out, p) = mha(c, query, key, value, &wt, mask)?;
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

/// `_transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias,
/// proj_weight, proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1,
/// norm_weight_2, norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2,
/// mask, mask_type)`.
fn encoder_layer(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let src = c.tensor(0, "src")?;
    let wt = mha_weights(c, 1)?;
    let gelu = c.bool(7, "use_gelu", false)?;
    let norm_first = c.bool(8, "norm_first", false)?;
    let epsilon = c.float(9, "eps", 1e-5)? as f32;
    let n1 = (c.tensor(10, "norm_weight_1")?, c.tensor(11, "norm_bias_1")?);
    let n2 = (c.tensor(12, "norm_weight_2")?, c.tensor(13, "norm_bias_2")?);
    let f1 = (
        c.tensor(14, "ffn_weight_1")?,
        c.opt_tensor(15, "ffn_bias_1")?,
    );
    let f2 = (
        c.tensor(16, "ffn_weight_2")?,
        c.opt_tensor(17, "ffn_bias_2")?,
    );
    let mask_type = c.opt_int(19, "mask_type")?;
    let mask = match c.opt_tensor(18, "mask")? {
        Some(m) => {
            let b = c.dims(src)?.first().copied().unwrap_or(0);
            Some(mha_mask(c, m, mask_type, b, wt.h)?)
        }
        None => None,
    };
    let axis = c.rank(src).saturating_sub(1);
    let norm = |c: &mut Call<'_>, x: ValueId, (w, b): (ValueId, ValueId)| {
        c.add(Op::LayerNorm(LayerNorm { axis, epsilon }), &[x, w, b])
    };
    let ffn = |c: &mut Call<'_>, x: ValueId| -> Result<ValueId, IrError> {
        let h = linear_values(c, x, f1.0, f1.1)?;
        let act = if gelu {
            UnaryOp::Gelu { tanh: false }
        } else {
            UnaryOp::Relu
        };
        let h = c.unary(act, h)?;
        linear_values(c, h, f2.0, f2.1)
    };
    let out = if norm_first {
        let a_in = norm(c, src, n1)?;
        let (a, _) = mha(c, a_in, a_in, a_in, &wt, mask)?;
        let x = c.binary(BinaryOp::Add, src, a)?;
        let f_in = norm(c, x, n2)?;
        let f = ffn(c, f_in)?;
        c.binary(BinaryOp::Add, x, f)?
    } else {
        let (a, _) = mha(c, src, src, src, &wt, mask)?;
        let x = c.binary(BinaryOp::Add, src, a)?;
        let x = norm(c, x, n1)?;
        let f = ffn(c, x)?;
        let y = c.binary(BinaryOp::Add, x, f)?;
        norm(c, y, n2)?
    };
    Ok(vec![Val::Tensor(out)])
}
