//! onnxruntime's `Attention` and `QAttention` (domain `com.microsoft`): multi-head
//! self-attention with a packed Q/K/V weight, imported as the graph a hand-written
//! BERT layer exports to, so the optimizer fuses it the same way:
//!
//! ```text
//! q|k|v = MatMul(x, W[:, part]) + bias[part]            (one MatMul per part)
//! q → Reshape [B, S, N, hq] → Transpose (0, 2, 1, 3)    k → … Transpose (0, 2, 3, 1)
//! p = Softmax(MatMul(q, k) · scale + mask, axis -1)
//! y = Reshape(Transpose(MatMul(p, v), (0, 2, 1, 3)), [B, S, N · hv])
//! ```
//!
//! The W and bias slices are constants folded at import. `mask` is additive, as in
//! onnxruntime's CPU kernel (`attention_helper.h`, `PrepareMask`): `mask_filter_value`
//! (default -10000) where a key is masked, 0 elsewhere; with `unidirectional` the
//! causal mask (`mask_filter_value` above the diagonal) is added on top. `mask_index`
//! forms (int32): `[B]` key lengths, `[2B]` end then start positions, `[B, T]` and
//! `[B, S, T]` raw 0/1 masks. The 4-D (Megatron) form is refused, as onnxruntime's
//! CPU kernel refuses it.
//!
//! Refused with an error naming the node: `past` / `present` state,
//! `attention_bias` (relative position bias), `past_sequence_length`, `do_rotary`,
//! `past_present_share_buffer`, heads that do not divide the hidden sizes.
//!
//! QAttention dequantizes its u8/i8 input and weight (`(x − zx) · sx`, per-tensor or
//! per-column weight scale) and continues as Attention; onnxruntime multiplies in
//! int32 and scales once, so results agree to float rounding.

use super::ms_fused::{bin, f32_const, float_input, slice};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Cast, Reshape, Softmax, Transpose};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

/// The attention math after the inputs are float: `x` [B, S, D], `w` [D, Hq+Hk+Hv],
/// `bias` [Hq+Hk+Hv]; `mask_input` is the index of `mask_index`.
fn attention_core(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    w: ValueId,
    bias: Option<ValueId>,
    mask_input: usize,
) -> Built {
    let heads = c.attrs.int("num_heads", 0)?;
    if heads <= 0 {
        return Err(c.attr_error(format!("num_heads must be positive, got {heads}")));
    }
    let heads = heads as u64;
    let xd = c.dims(x)?;
    let [b, s, d] = xd[..] else {
        return Err(c.shape_error(format!(
            "input must be [batch, sequence, hidden], got {xd:?}"
        )));
    };
    let wd = c.dims(w)?;
    if wd.len() != 2 || wd[0] != d {
        return Err(c.shape_error(format!(
            "weights must be [{d}, q+k+v hidden], got {wd:?} for an input of hidden size {d}"
        )));
    }
    let (hq, hk, hv) = match c.attrs.ints("qkv_hidden_sizes")? {
        Some(&[q, k, v]) if q > 0 && k > 0 && v > 0 => (q as u64, k as u64, v as u64),
        Some(other) => {
            return Err(c.attr_error(format!(
                "qkv_hidden_sizes must be 3 positive sizes, got {other:?}"
            )))
        }
        None => (wd[1] / 3, wd[1] / 3, wd[1] / 3),
    };
    if hq + hk + hv != wd[1] || hq != hk || hq % heads != 0 || hv % heads != 0 {
        return Err(c.shape_error(format!(
            "weights have {} columns: q/k/v hidden sizes ({hq}, {hk}, {hv}) must add up to \
             them, q and k must be equal and {heads} heads must divide each",
            wd[1]
        )));
    }
    if let Some(bv) = bias {
        let bd = c.dims(bv)?;
        if bd != [wd[1]] {
            return Err(c.shape_error(format!("bias must be [{}], got {bd:?}", wd[1])));
        }
    }
    let (dq, dv) = (hq / heads, hv / heads);
    let mut parts = Vec::with_capacity(3);
    for (tag, start, size, head) in [("q", 0, hq, dq), ("k", hq, hk, dq), ("v", hq + hk, hv, dv)] {
        let wp = slice(c, &format!("{tag}_weight"), w, 1, (start, start + size))?;
        let mut p = c.inner(
            &format!("{tag}_matmul"),
            Op::MatMul,
            vec![Some(x), Some(wp)],
        )?;
        if let Some(bv) = bias {
            let bp = slice(c, &format!("{tag}_bias"), bv, 0, (start, start + size))?;
            p = bin(c, &format!("{tag}_add"), BinaryOp::Add, p, bp)?;
        }
        let r = c.inner(
            &format!("{tag}_heads"),
            Op::Reshape(Reshape {
                shape: vec![b, s, heads, head],
            }),
            vec![Some(p)],
        )?;
        let perm = if tag == "k" {
            vec![0, 2, 3, 1]
        } else {
            vec![0, 2, 1, 3]
        };
        parts.push(c.inner(
            &format!("{tag}_transposed"),
            Op::Transpose(Transpose { perm }),
            vec![Some(r)],
        )?);
    }
    let (q, k, v) = (parts[0], parts[1], parts[2]);
    let scale = match c.attrs.opt_float("scale")? {
        Some(sc) if sc != 0.0 => sc,
        _ => 1.0 / (dq as f32).sqrt(),
    };
    let qk = c.inner("scores", Op::MatMul, vec![Some(q), Some(k)])?;
    let sc = f32_const(c, "scale", vec![], &[scale]);
    let mut scores = bin(c, "scaled_scores", BinaryOp::Mul, qk, sc)?;
    if let Some(mask) = additive_mask(c, mask_input, (b, s))? {
        scores = bin(c, "masked_scores", BinaryOp::Add, scores, mask)?;
    }
    let probs = c.inner(
        "probs",
        Op::Softmax(Softmax {
            axis: 3,
            log: false,
        }),
        vec![Some(scores)],
    )?;
    let ctx = c.inner("context", Op::MatMul, vec![Some(probs), Some(v)])?;
    let t = c.inner(
        "context_transposed",
        Op::Transpose(Transpose {
            perm: vec![0, 2, 1, 3],
        }),
        vec![Some(ctx)],
    )?;
    c.emit1(
        Op::Reshape(Reshape {
            shape: vec![b, s, hv],
        }),
        vec![Some(t)],
    )
}

/// The additive mask broadcastable to the scores [B, N, S, T] (T = S: no past), or
/// `None` without `mask_index` and `unidirectional`.
fn additive_mask(
    c: &mut NodeCtx<'_>,
    mask_input: usize,
    (b, s): (u64, u64),
) -> Result<Option<ValueId>, IrError> {
    let filter = c.attrs.float("mask_filter_value", -10000.0)?;
    let zero = f32_const(c, "mask_zero", vec![], &[0.0]);
    let masked = f32_const(c, "mask_filter", vec![], &[filter]);
    let mut mask = None;
    if let Some(m) = c.input(mask_input) {
        let dt = c.ty(m).dtype;
        if dt != DType::I32 {
            return Err(c.shape_error(format!(
                "mask_index (input {mask_input}) must be int32, got {dt}"
            )));
        }
        let md = c.dims(m)?;
        // Key positions 0..T as int32 [1, T].
        let positions: Vec<i64> = (0..s as i64).collect();
        let range = c.constant(
            "key_positions",
            Tensor::from_i64_wrapping(DType::I32, vec![1, s], &positions),
        );
        let to_add = |c: &mut NodeCtx<'_>, tag: &str, keep: ValueId| {
            c.inner(tag, Op::Where, vec![Some(keep), Some(zero), Some(masked)])
        };
        let m2 = if md == [b] || md == [2 * b] {
            let end = if md == [b] {
                m
            } else {
                slice(c, "mask_end", m, 0, (0, b))?
            };
            let end = c.inner(
                "mask_end_column",
                Op::Reshape(Reshape { shape: vec![b, 1] }),
                vec![Some(end)],
            )?;
            let keep = bin(c, "mask_before_end", BinaryOp::Less, range, end)?;
            let mut add = to_add(c, "mask_end_add", keep)?;
            if md == [2 * b] {
                let start = slice(c, "mask_start", m, 0, (b, 2 * b))?;
                let start = c.inner(
                    "mask_start_column",
                    Op::Reshape(Reshape { shape: vec![b, 1] }),
                    vec![Some(start)],
                )?;
                let before = bin(c, "mask_before_start", BinaryOp::Less, range, start)?;
                let add_start = c.inner(
                    "mask_start_add",
                    Op::Where,
                    vec![Some(before), Some(masked), Some(zero)],
                )?;
                // A key both before the start and after the end is masked once.
                add = bin(c, "mask_span_add", BinaryOp::Min, add, add_start)?;
            }
            c.inner(
                "mask_add",
                Op::Reshape(Reshape {
                    shape: vec![b, 1, 1, s],
                }),
                vec![Some(add)],
            )?
        } else if md == [b, s] || md == [b, s, s] {
            let z = c.constant(
                "mask_int_zero",
                Tensor::from_i64_wrapping(DType::I32, vec![], &[0]),
            );
            let keep = bin(c, "mask_keep", BinaryOp::Greater, m, z)?;
            let add = to_add(c, "mask_raw_add", keep)?;
            let shape = if md.len() == 2 {
                vec![b, 1, 1, s]
            } else {
                vec![b, 1, s, s]
            };
            c.inner("mask_add", Op::Reshape(Reshape { shape }), vec![Some(add)])?
        } else {
            return Err(c.shape_error(format!(
                "mask_index shape {md:?} is not supported (batch {b}, sequence {s}): expected \
                 [{b}] key lengths, [{}] end and start positions, [{b}, {s}] or [{b}, {s}, {s}]",
                2 * b
            )));
        };
        mask = Some(m2);
    }
    if c.attrs.int("unidirectional", 0)? != 0 {
        let n = s as usize;
        let mut causal = vec![0f32; n * n];
        for i in 0..n {
            for j in i + 1..n {
                causal[i * n + j] = filter;
            }
        }
        let cm = f32_const(c, "causal_mask", vec![s, s], &causal);
        mask = Some(match mask {
            Some(m) => bin(c, "mask_causal", BinaryOp::Add, m, cm)?,
            None => cm,
        });
    }
    Ok(mask)
}

/// Refuses the attribute and input forms the composition does not implement.
fn refuse_unsupported(c: &NodeCtx<'_>, optional_inputs: &[(usize, &str)]) -> Result<(), IrError> {
    for &(i, what) in optional_inputs {
        if c.input(i).is_some() {
            return Err(c.shape_error(format!("{what} (input {i}) is not supported")));
        }
    }
    for attr in ["do_rotary", "past_present_share_buffer"] {
        if c.attrs.int(attr, 0)? != 0 {
            return Err(c.attr_error(format!("{attr}={} is not supported", c.attrs.int(attr, 0)?)));
        }
    }
    // Only output 0 is produced: the importer refuses a model that reads `present`.
    Ok(())
}

pub(crate) fn attention(c: &mut NodeCtx<'_>) -> Built {
    refuse_unsupported(
        c,
        &[
            (4, "past state"),
            (5, "attention_bias (relative position bias)"),
            (6, "past_sequence_length"),
        ],
    )?;
    let x = float_input(c, 0)?;
    let w = float_input(c, 1)?;
    let bias = c.input(2);
    attention_core(c, x, w, bias, 3)
}

/// `(v − zero) · scale` in f32 for the quantized input `vi`.
fn dequantize(
    c: &mut NodeCtx<'_>,
    tag: &str,
    vi: usize,
    scale_i: usize,
    zero_i: usize,
) -> Result<ValueId, IrError> {
    let v = c.req(vi)?;
    let dt = c.ty(v).dtype;
    if !matches!(dt, DType::U8 | DType::I8) {
        return Err(c.shape_error(format!("input {vi} must be uint8 or int8, got {dt}")));
    }
    let f32_of = |c: &mut NodeCtx<'_>, suffix: &str, v: ValueId| {
        c.inner(suffix, Op::Cast(Cast { to: DType::F32 }), vec![Some(v)])
    };
    let mut f = f32_of(c, &format!("{tag}_f"), v)?;
    if let Some(z) = c.input(zero_i) {
        let zf = f32_of(c, &format!("{tag}_zero_f"), z)?;
        f = bin(c, &format!("{tag}_centered"), BinaryOp::Sub, f, zf)?;
    }
    let scale = c
        .input(scale_i)
        .ok_or_else(|| c.shape_error(format!("the scale (input {scale_i}) is required")))?;
    bin(c, &format!("{tag}_dq"), BinaryOp::Mul, f, scale)
}

pub(crate) fn qattention(c: &mut NodeCtx<'_>) -> Built {
    refuse_unsupported(c, &[(8, "past state")])?;
    let x = dequantize(c, "input", 0, 3, 6)?;
    let w = dequantize(c, "weight", 1, 4, 7)?;
    let bias = c.input(2);
    attention_core(c, x, w, bias, 5)
}
