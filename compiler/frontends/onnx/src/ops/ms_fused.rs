//! onnxruntime's fused transformer operators (domain `com.microsoft`, version 1), as
//! `onnxruntime.transformers.optimizer.optimize_model(model_type="bert")` writes them,
//! plus the default-domain LayerNormalization (opset < 17) and
//! SimplifiedLayerNormalization that onnxruntime registers as its own contrib kernels.
//!
//! Each op is imported as the composition of IR ops it stands for, so the optimizer's
//! own fusions (`fuse-layernorm`'s LayerNorm node, `fuse-elementwise`,
//! `recognize-gelu`, `fuse-epilogue` onto the MatMuls) see the same graph as for the
//! unoptimized model: an optimized model compiles to the plan of the original.
//!
//! - SkipLayerNormalization: `s = x + skip (+ bias)`, `LayerNorm(s, gamma, beta)`;
//!   outputs mean / inv_std_var from ReduceMean, `input_skip_bias_sum` is `s`.
//! - SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization: RMS norm,
//!   `s / sqrt(mean(s²) + eps) · gamma`.
//! - Gelu, BiasGelu (`x + bias`): `0.5 x (1 + erf(x / √2))`; FastGelu (optional bias):
//!   the tanh approximation; QuickGelu: `x · sigmoid(alpha · x)`.
//! - EmbedLayerNormalization: Gather of the word, position (`position_ids` or
//!   `0..S`) and segment embeddings, summed, LayerNorm; `mask_index` is the mask's
//!   row sum (zeros without a mask), `embedding_sum` the sum before the norm.
//! - Attention, QAttention: `ms_fused_attention.rs`.
//!
//! Spec: onnxruntime's `docs/ContribOperators.md`; references in `testmodels/ms_fused/`.

use crate::context::{Built, NodeCtx};
use crate::ops::{ms_fused_attention, spec, BuildFn, OpSpec};
use neoc_ir::ops::{BinaryOp, Gather, LayerNorm, Reduce, ReduceKind, Slice, SliceAxis, UnaryOp};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

/// The contrib domain.
const DOMAIN: &str = "com.microsoft";

const fn ms(op_type: &'static str, build: BuildFn, note: &'static str) -> OpSpec {
    super::domain_spec(DOMAIN, op_type, build, note)
}

pub(crate) const SPECS: &[OpSpec] = &[
    ms(
        "Attention",
        ms_fused_attention::attention,
        "com.microsoft; MatMul+Add per Q/K/V, per-head MatMul, scale, additive mask, Softmax, MatMul; no past/rotary/attention_bias",
    ),
    ms(
        "QAttention",
        ms_fused_attention::qattention,
        "com.microsoft; DequantizeLinear of input and weight, then as Attention",
    ),
    ms(
        "SkipLayerNormalization",
        skip_layer_norm,
        "com.microsoft; Add(x, skip[, bias]), LayerNorm; all 4 outputs",
    ),
    ms(
        "SkipSimplifiedLayerNormalization",
        skip_simplified_layer_norm,
        "com.microsoft; Add(x, skip[, bias]), RMS norm",
    ),
    ms(
        "LayerNormalization",
        layer_norm,
        "com.microsoft; LayerNorm",
    ),
    ms(
        "SimplifiedLayerNormalization",
        simplified_layer_norm,
        "com.microsoft; RMS norm",
    ),
    spec(
        "LayerNormalization",
        1,
        16,
        layer_norm,
        "onnxruntime's contrib registration below opset 17 (its optimizer writes it); LayerNorm",
    ),
    spec(
        "SimplifiedLayerNormalization",
        1,
        22,
        simplified_layer_norm,
        "onnxruntime's contrib registration; RMS norm",
    ),
    ms("Gelu", gelu, "com.microsoft; erf GELU"),
    ms("BiasGelu", bias_gelu, "com.microsoft; Add bias, erf GELU"),
    ms(
        "FastGelu",
        fast_gelu,
        "com.microsoft; [Add bias], tanh-approximation GELU",
    ),
    ms("QuickGelu", quick_gelu, "com.microsoft; x * Sigmoid(alpha * x)"),
    ms(
        "EmbedLayerNormalization",
        embed_layer_norm,
        "com.microsoft; Gather word/position/segment embeddings, Add, LayerNorm; mask_index = ReduceSum(mask)",
    ),
];

/// Input `i`, which must be float32.
pub(crate) fn float_input(c: &NodeCtx<'_>, i: usize) -> Result<ValueId, IrError> {
    let v = c.req(i)?;
    let dt = c.ty(v).dtype;
    if dt != DType::F32 {
        return Err(c.shape_error(format!("input {i} must be float32, got {dt}")));
    }
    Ok(v)
}

/// An f32 constant named `<node>/<suffix>`.
pub(crate) fn f32_const(c: &mut NodeCtx<'_>, suffix: &str, shape: Vec<u64>, v: &[f32]) -> ValueId {
    c.constant(suffix, Tensor::from_f32(shape, v))
}

/// `a op b` as an inner node named `<node>/<suffix>`.
pub(crate) fn bin(
    c: &mut NodeCtx<'_>,
    suffix: &str,
    op: BinaryOp,
    a: ValueId,
    b: ValueId,
) -> Result<ValueId, IrError> {
    c.inner(suffix, Op::Binary(op), vec![Some(a), Some(b)])
}

fn unary(c: &mut NodeCtx<'_>, suffix: &str, op: UnaryOp, a: ValueId) -> Result<ValueId, IrError> {
    c.inner(suffix, Op::Unary(op), vec![Some(a)])
}

/// The node's outputs `vals`, in order, each as an Identity named like the ONNX
/// output (the views cost nothing).
pub(crate) fn named(c: &mut NodeCtx<'_>, vals: Vec<ValueId>) -> Built {
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| c.emit_output(i, Op::Identity, vec![Some(v)]))
        .collect()
}

/// `x[.., start..end]` along `axis`.
pub(crate) fn slice(
    c: &mut NodeCtx<'_>,
    suffix: &str,
    x: ValueId,
    axis: usize,
    (start, end): (u64, u64),
) -> Result<ValueId, IrError> {
    let s = Slice {
        axes: vec![SliceAxis {
            axis,
            start: start as i64,
            end: end as i64,
            step: 1,
        }],
    };
    c.inner(suffix, Op::Slice(s), vec![Some(x)])
}

/// `x + b` for each present optional input `b` (by index), in order.
fn add_optional(
    c: &mut NodeCtx<'_>,
    tag: &str,
    mut x: ValueId,
    inputs: &[usize],
) -> Result<ValueId, IrError> {
    for &i in inputs {
        if let Some(b) = c.input(i) {
            x = bin(c, &format!("{tag}{i}"), BinaryOp::Add, x, b)?;
        }
    }
    Ok(x)
}

/// Mean and `1 / sqrt(var + eps)` over the last axis (kept), the LayerNorm training
/// outputs of the skip norms; with `rms` the variance is the mean square.
fn norm_stats(
    c: &mut NodeCtx<'_>,
    s: ValueId,
    epsilon: f32,
    rms: bool,
) -> Result<(ValueId, ValueId), IrError> {
    let last = c.dims(s)?.len() - 1;
    let mean_of = |c: &mut NodeCtx<'_>, suffix: &str, v: ValueId| {
        c.inner(
            suffix,
            Op::Reduce(Reduce {
                kind: ReduceKind::Mean,
                axes: vec![last],
                keepdims: true,
            }),
            vec![Some(v)],
        )
    };
    let mean = mean_of(c, "mean", s)?;
    let d = if rms {
        s
    } else {
        bin(c, "centered", BinaryOp::Sub, s, mean)?
    };
    let sq = bin(c, "square", BinaryOp::Mul, d, d)?;
    let var = mean_of(c, "variance", sq)?;
    let eps = f32_const(c, "epsilon", vec![], &[epsilon]);
    let v = bin(c, "variance_eps", BinaryOp::Add, var, eps)?;
    let sd = unary(c, "std", UnaryOp::Sqrt, v)?;
    let inv = unary(c, "inv_std", UnaryOp::Reciprocal, sd)?;
    Ok((mean, inv))
}

/// `s / sqrt(mean(s²) + eps) · gamma` over the axes from `axis`.
fn rms_norm(
    c: &mut NodeCtx<'_>,
    s: ValueId,
    gamma: ValueId,
    axis: usize,
    epsilon: f32,
) -> Result<ValueId, IrError> {
    let rank = c.dims(s)?.len();
    let sq = bin(c, "rms_square", BinaryOp::Mul, s, s)?;
    let ms = c.inner(
        "rms_mean_square",
        Op::Reduce(Reduce {
            kind: ReduceKind::Mean,
            axes: (axis..rank).collect(),
            keepdims: true,
        }),
        vec![Some(sq)],
    )?;
    let eps = f32_const(c, "rms_epsilon", vec![], &[epsilon]);
    let v = bin(c, "rms_eps", BinaryOp::Add, ms, eps)?;
    let rms = unary(c, "rms", UnaryOp::Sqrt, v)?;
    let n = bin(c, "rms_normalized", BinaryOp::Div, s, rms)?;
    bin(c, "rms_scaled", BinaryOp::Mul, n, gamma)
}

/// The skip norms' outputs: `[y, mean, inv_std_var, input_skip_bias_sum]`, the
/// statistics only when the node declares them.
fn skip_outputs(c: &mut NodeCtx<'_>, y: ValueId, s: ValueId, epsilon: f32, rms: bool) -> Built {
    if c.output_count() <= 1 {
        return named(c, vec![y]);
    }
    let (mean, inv) = norm_stats(c, s, epsilon, rms)?;
    named(c, vec![y, mean, inv, s])
}

fn skip_layer_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let skip = float_input(c, 1)?;
    let gamma = c.req(2)?;
    let epsilon = c.attrs.float("epsilon", 1e-12)?;
    let s = bin(c, "skip_sum", BinaryOp::Add, x, skip)?;
    let s = add_optional(c, "bias_sum", s, &[4])?;
    let axis = c.dims(s)?.len() - 1;
    let y = c.inner(
        "y",
        Op::LayerNorm(LayerNorm { axis, epsilon }),
        vec![Some(s), Some(gamma), c.input(3)],
    )?;
    skip_outputs(c, y, s, epsilon, false)
}

fn skip_simplified_layer_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let skip = float_input(c, 1)?;
    let gamma = c.req(2)?;
    let epsilon = c.attrs.float("epsilon", 1e-12)?;
    let s = bin(c, "skip_sum", BinaryOp::Add, x, skip)?;
    let s = add_optional(c, "bias_sum", s, &[3])?;
    let axis = c.dims(s)?.len() - 1;
    let y = rms_norm(c, s, gamma, axis, epsilon)?;
    skip_outputs(c, y, s, epsilon, true)
}

/// LayerNormalization (onnxruntime's contrib form: `axis`, `epsilon`; only output Y
/// is supported).
fn layer_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let rank = c.dims(x)?.len();
    let axis = c.axis(c.attrs.int("axis", -1)?, rank)?;
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    let scale = c.req(1)?;
    c.emit1(
        Op::LayerNorm(LayerNorm { axis, epsilon }),
        vec![Some(x), Some(scale), c.input(2)],
    )
}

fn simplified_layer_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let rank = c.dims(x)?.len();
    let axis = c.axis(c.attrs.int("axis", -1)?, rank)?;
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    let gamma = c.req(1)?;
    let y = rms_norm(c, x, gamma, axis, epsilon)?;
    named(c, vec![y])
}

/// GELU of `x` as the node's output: erf form, or with `tanh` the approximation.
fn gelu_of(c: &mut NodeCtx<'_>, x: ValueId, tanh: bool) -> Built {
    let inner = if tanh {
        let k = f32_const(c, "k", vec![], &[0.044_715]);
        let r = f32_const(
            c,
            "sqrt_2_over_pi",
            vec![],
            &[(2.0 / std::f64::consts::PI).sqrt() as f32],
        );
        let x2 = bin(c, "x2", BinaryOp::Mul, x, x)?;
        let x3 = bin(c, "x3", BinaryOp::Mul, x2, x)?;
        let kx3 = bin(c, "kx3", BinaryOp::Mul, k, x3)?;
        let sum = bin(c, "sum", BinaryOp::Add, x, kx3)?;
        let arg = bin(c, "arg", BinaryOp::Mul, r, sum)?;
        unary(c, "tanh", UnaryOp::Tanh, arg)?
    } else {
        let k = f32_const(c, "inv_sqrt2", vec![], &[std::f32::consts::FRAC_1_SQRT_2]);
        let s = bin(c, "scaled", BinaryOp::Mul, x, k)?;
        unary(c, "erf", UnaryOp::Erf, s)?
    };
    let one = f32_const(c, "one", vec![], &[1.0]);
    let half = f32_const(c, "half", vec![], &[0.5]);
    let p = bin(c, "one_plus", BinaryOp::Add, inner, one)?;
    let hx = bin(c, "half_x", BinaryOp::Mul, half, x)?;
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(hx), Some(p)])
}

fn gelu(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    gelu_of(c, x, false)
}

fn bias_gelu(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let b = c.req(1)?;
    let s = bin(c, "biased", BinaryOp::Add, x, b)?;
    gelu_of(c, s, false)
}

fn fast_gelu(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let s = add_optional(c, "biased", x, &[1])?;
    gelu_of(c, s, true)
}

fn quick_gelu(c: &mut NodeCtx<'_>) -> Built {
    let x = float_input(c, 0)?;
    let alpha = c.attrs.float("alpha", 1.702)?;
    let a = f32_const(c, "alpha", vec![], &[alpha]);
    let ax = bin(c, "alpha_x", BinaryOp::Mul, x, a)?;
    let s = unary(c, "sigmoid", UnaryOp::Sigmoid, ax)?;
    c.emit1(Op::Binary(BinaryOp::Mul), vec![Some(x), Some(s)])
}

/// `table[ids]` (Gather on axis 0).
fn lookup(
    c: &mut NodeCtx<'_>,
    suffix: &str,
    table: ValueId,
    ids: ValueId,
) -> Result<ValueId, IrError> {
    c.inner(
        suffix,
        Op::Gather(Gather { axis: 0 }),
        vec![Some(table), Some(ids)],
    )
}

fn embed_layer_norm(c: &mut NodeCtx<'_>) -> Built {
    let ids = c.req(0)?;
    let d = c.dims(ids)?;
    let [b, s] = d[..] else {
        return Err(c.shape_error(format!("input_ids must be [batch, sequence], got {d:?}")));
    };
    let word_table = float_input(c, 2)?;
    let pos_table = float_input(c, 3)?;
    let gamma = c.req(5)?;
    let beta = c.req(6)?;
    let epsilon = c.attrs.float("epsilon", 1e-12)?;
    let word = lookup(c, "word", word_table, ids)?;
    let pos = match c.input(8) {
        Some(p) => lookup(c, "position", pos_table, p)?,
        None => {
            let rows = c.dims(pos_table)?[0];
            if rows < s {
                return Err(c.shape_error(format!(
                    "position_embedding has {rows} rows, fewer than the sequence length {s}"
                )));
            }
            slice(c, "position", pos_table, 0, (0, s))?
        }
    };
    let mut sum = bin(c, "word_position", BinaryOp::Add, word, pos)?;
    match (c.input(1), c.input(4)) {
        (Some(seg_ids), Some(seg_table)) => {
            let seg = lookup(c, "segment", seg_table, seg_ids)?;
            sum = bin(c, "embedding_sum", BinaryOp::Add, sum, seg)?;
        }
        (None, None) => {}
        _ => {
            return Err(c.shape_error(
                "segment_ids (input 1) and segment_embedding (input 4) must be given together",
            ))
        }
    }
    let y = c.inner(
        "y",
        Op::LayerNorm(LayerNorm { axis: 2, epsilon }),
        vec![Some(sum), Some(gamma), Some(beta)],
    )?;
    let mask_index = match c.input(7) {
        Some(m) => {
            let m = c.inner(
                "mask_i32",
                Op::Cast(neoc_ir::ops::Cast { to: DType::I32 }),
                vec![Some(m)],
            )?;
            c.inner(
                "mask_index",
                Op::Reduce(Reduce {
                    kind: ReduceKind::Sum,
                    axes: vec![1],
                    keepdims: false,
                }),
                vec![Some(m)],
            )?
        }
        None => c.constant(
            "mask_index",
            Tensor::from_i64_wrapping(DType::I32, vec![b], &vec![0; b as usize]),
        ),
    };
    named(c, vec![y, mask_index, sum])
}
