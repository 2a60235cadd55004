//! BatchNormalization, LayerNormalization, MeanVarianceNormalization, Softmax and
//! LogSoftmax.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__BatchNormalization.html>,
//! <https://onnx.ai/onnx/operators/onnx__Softmax.html>. Opset notes:
//! - BatchNormalization 7–8 has `spatial` (default 1); `spatial = 0` (per-element
//!   statistics) is refused. In inference only output 0 (Y) may be used and `momentum`
//!   is ignored; before 14 the statistics outputs exist only for training, which those
//!   opsets cannot request.
//! - BatchNormalization 14+ with `training_mode = 1` normalises with the batch
//!   statistics: `mean` and the biased `var` over every axis but 1 (ReduceMean of `x` and
//!   of the centred squares), fed to the IR's BatchNorm as its mean and variance; the
//!   outputs `running_mean = mean_in·momentum + mean·(1 − momentum)` and likewise
//!   `running_var` (momentum default 0.9) are the spec's.
//! - MeanVarianceNormalization (9+, <https://onnx.ai/onnx/operators/onnx__MeanVarianceNormalization.html>)
//!   is `(x − mean) / (√var + 1e-9)` over `axes` (default `[0, 2, 3]`). The function body
//!   computes `var` as `E[x²] − E[x]²`; it is taken here as the mean of the centred
//!   squares, the same value without the cancellation (never negative).
//! - Softmax/LogSoftmax before 13 flatten the input to 2-D at `axis` (default 1) and
//!   normalise each row; that is imported as Reshape → Softmax(axis 1) → Reshape, or
//!   directly as a last-axis Softmax when `axis` is the last dim (the same thing).
//!   From 13 they normalise along one `axis` (default -1).
//! - InstanceNormalization (6+) is LayerNorm over the spatial dims (axis 2) then the
//!   per-channel scale and bias; GroupNormalization (18–20: scale/bias per group; 21+:
//!   per channel) reshapes to [N, groups, rest], LayerNorm over axis 2, reshapes back and
//!   applies scale and bias per channel (a per-group one is expanded to channels).
//! - LRN (1, 13: only the allowed types differ) maps to the IR's Lrn; `size` is
//!   required, `alpha`/`beta`/`bias` default to 1e-4/0.75/1.
//! - LayerNormalization (17+) maps to the IR's LayerNorm. The training outputs Mean and
//!   InvStdDev, when a model uses them, come from ReduceMean / Sub / Mul / Add / Sqrt /
//!   Reciprocal and are cast to `stash_type` (float32 by default).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{
    BatchNorm, BinaryOp, Cast, Expand, LayerNorm, Lrn, Reduce, ReduceKind, Reshape, Softmax,
    UnaryOp,
};
use neoc_ir::Op;
use neoc_ir::{IrError, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "BatchNormalization",
        7,
        8,
        batch_norm,
        "spatial=0 refused; only output Y",
    ),
    spec(
        "BatchNormalization",
        9,
        13,
        batch_norm,
        "inference; only output Y",
    ),
    spec(
        "BatchNormalization",
        14,
        22,
        batch_norm,
        "training_mode=1: batch statistics (ReduceMean) and running mean/var outputs",
    ),
    spec(
        "MeanVarianceNormalization",
        9,
        22,
        mean_variance_norm,
        "desugared: (x - mean) / (sqrt(var) + 1e-9) with ReduceMean over axes",
    ),
    spec(
        "Softmax",
        7,
        12,
        softmax_legacy,
        "coerce-to-2-D: Reshape, Softmax, Reshape",
    ),
    spec("Softmax", 13, 22, softmax, "one axis, default -1"),
    spec("LogSoftmax", 7, 12, log_softmax_legacy, "as Softmax 7-12"),
    spec("LogSoftmax", 13, 22, log_softmax, "as Softmax 13+"),
    spec(
        "LayerNormalization",
        17,
        22,
        layer_norm,
        "axis, epsilon; Mean and InvStdDev outputs from Reduce ops",
    ),
    spec("LRN", 1, 22, lrn, "size, alpha, beta, bias"),
    spec(
        "InstanceNormalization",
        7,
        22,
        instance_norm,
        "LayerNorm over spatial dims, then per-channel scale and bias",
    ),
    spec(
        "GroupNormalization",
        18,
        20,
        group_norm,
        "scale/bias per group; LayerNorm over [N, groups, rest]",
    ),
    spec(
        "GroupNormalization",
        21,
        22,
        group_norm,
        "scale/bias per channel; LayerNorm over [N, groups, rest]",
    ),
];

/// `y = x · scale[c] + bias[c]` for per-channel `scale`/`bias` of shape [C] and `x` of
/// rank `rank` (channels on axis 1); the ONNX node's output.
fn per_channel_affine(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    (scale, bias): (ValueId, ValueId),
    channels: u64,
    rank: usize,
) -> Built {
    let mut shape = vec![channels];
    shape.resize(rank - 1, 1);
    let s = c.inner(
        "scale_c",
        Op::Reshape(Reshape {
            shape: shape.clone(),
        }),
        vec![Some(scale)],
    )?;
    let b = c.inner("bias_c", Op::Reshape(Reshape { shape }), vec![Some(bias)])?;
    let m = c.inner("scaled", Op::Binary(BinaryOp::Mul), vec![Some(x), Some(s)])?;
    c.emit1(Op::Binary(BinaryOp::Add), vec![Some(m), Some(b)])
}

fn instance_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    if d.len() < 3 {
        return Err(c.shape_error(format!("needs [N, C, D1, ...], got {d:?}")));
    }
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    let n = c.inner(
        "normalize",
        Op::LayerNorm(LayerNorm { axis: 2, epsilon }),
        vec![Some(x)],
    )?;
    let (scale, bias) = (c.req(1)?, c.req(2)?);
    per_channel_affine(c, n, (scale, bias), d[1], d.len())
}

fn group_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let groups = c.attrs.int("num_groups", 0)?;
    if d.len() < 2 || groups < 1 || d[1] % groups as u64 != 0 {
        return Err(c.shape_error(format!(
            "{} groups do not divide the channels of {d:?}",
            groups
        )));
    }
    let (ch, g) = (d[1], groups as u64);
    let rest: u64 = d[1..].iter().product::<u64>() / g;
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    let grouped = c.inner(
        "grouped",
        Op::Reshape(Reshape {
            shape: vec![d[0], g, rest],
        }),
        vec![Some(x)],
    )?;
    let n = c.inner(
        "normalize",
        Op::LayerNorm(LayerNorm { axis: 2, epsilon }),
        vec![Some(grouped)],
    )?;
    let back = c.inner(
        "ungrouped",
        Op::Reshape(Reshape { shape: d.clone() }),
        vec![Some(n)],
    )?;
    let (mut scale, mut bias) = (c.req(1)?, c.req(2)?);
    if c.opset < 21 {
        // Per-group parameters: [G] -> [G, 1] -> [G, C/G] -> [C].
        let per_channel =
            |c: &mut NodeCtx<'_>, v: ValueId, what: &str| -> Result<ValueId, IrError> {
                let col = c.inner(
                    &format!("{what}_g"),
                    Op::Reshape(Reshape { shape: vec![g, 1] }),
                    vec![Some(v)],
                )?;
                let wide = c.inner(
                    &format!("{what}_gc"),
                    Op::Expand(Expand {
                        shape: vec![g, ch / g],
                    }),
                    vec![Some(col)],
                )?;
                c.inner(
                    &format!("{what}_c"),
                    Op::Reshape(Reshape { shape: vec![ch] }),
                    vec![Some(wide)],
                )
            };
        scale = per_channel(c, scale, "scale")?;
        bias = per_channel(c, bias, "bias")?;
    }
    per_channel_affine(c, back, (scale, bias), ch, d.len())
}

fn lrn(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let Some(size) = c.attrs.opt_int("size")? else {
        return Err(c.attr_error("attribute `size` is required"));
    };
    if size < 1 {
        return Err(c.attr_error(format!("attribute `size` must be at least 1, got {size}")));
    }
    let l = Lrn {
        size: size as u64,
        alpha: c.attrs.float("alpha", 1e-4)?,
        beta: c.attrs.float("beta", 0.75)?,
        bias: c.attrs.float("bias", 1.0)?,
    };
    c.emit1(Op::Lrn(l), vec![Some(x)])
}

fn layer_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let axis = c.axis(c.attrs.int("axis", -1)?, rank)?;
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    let scale = c.req(1)?;
    let bias = c.input(2);
    if c.output_count() <= 1 {
        return c.emit1(
            Op::LayerNorm(LayerNorm { axis, epsilon }),
            vec![Some(x), Some(scale), bias],
        );
    }
    // The training outputs Mean and InvStdDev (kept dims, in `stash_type`, float32 by
    // default) from ReduceMean / Sub / Mul / Add / Sqrt / Reciprocal.
    let y = c.emit_output(
        0,
        Op::LayerNorm(LayerNorm { axis, epsilon }),
        vec![Some(x), Some(scale), bias],
    )?;
    let axes: Vec<usize> = (axis..rank).collect();
    let dtype = c.ty(x).dtype;
    let (mean, _, var) = centered_and_variance(c, x, &axes)?;
    let eps = c.constant(
        "epsilon",
        neoc_ir::Tensor::from_f64_as(dtype, vec![], &[f64::from(epsilon)]),
    );
    let v = c.inner(
        "var_eps",
        Op::Binary(BinaryOp::Add),
        vec![Some(var), Some(eps)],
    )?;
    let sd = c.inner("stddev", Op::Unary(UnaryOp::Sqrt), vec![Some(v)])?;
    let stash = match c.attrs.int("stash_type", 1)? {
        1 => neoc_ir::DType::F32,
        11 => neoc_ir::DType::F64,
        other => return Err(c.attr_error(format!("stash_type {other} is not supported"))),
    };
    let out = |c: &mut NodeCtx<'_>, i: usize, op: Op, v: ValueId| -> Result<ValueId, IrError> {
        if dtype == stash {
            c.emit_output(i, op, vec![Some(v)])
        } else {
            let t = c.inner(&format!("out{i}"), op, vec![Some(v)])?;
            c.emit_output(i, Op::Cast(Cast { to: stash }), vec![Some(t)])
        }
    };
    let mean_out = out(c, 1, Op::Identity, mean)?;
    let inv = out(c, 2, Op::Unary(UnaryOp::Reciprocal), sd)?;
    Ok(vec![y, mean_out, inv])
}

fn batch_norm(c: &mut NodeCtx<'_>) -> Built {
    if c.opset < 9 && c.attrs.int("spatial", 1)? != 1 {
        return Err(
            c.attr_error("spatial=0 (per-element statistics) is not supported; only spatial=1")
        );
    }
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    if c.opset >= 14 && c.attrs.flag("training_mode", false)? {
        return batch_norm_training(c, epsilon);
    }
    let mut inputs = Vec::with_capacity(5);
    for i in 0..5 {
        inputs.push(Some(c.req(i)?));
    }
    c.emit1(Op::BatchNorm(BatchNorm { epsilon }), inputs)
}

/// Mean over `axes`, dims kept.
fn mean_over(axes: &[usize]) -> Op {
    Op::Reduce(Reduce {
        kind: ReduceKind::Mean,
        axes: axes.to_vec(),
        keepdims: true,
    })
}

/// `x − mean(x)` and `mean((x − mean(x))²)` over `axes`, dims kept.
fn centered_and_variance(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    axes: &[usize],
) -> Result<(ValueId, ValueId, ValueId), IrError> {
    let mean = c.inner("mean", mean_over(axes), vec![Some(x)])?;
    let centered = c.inner(
        "centered",
        Op::Binary(BinaryOp::Sub),
        vec![Some(x), Some(mean)],
    )?;
    let sq = c.inner(
        "squared",
        Op::Binary(BinaryOp::Mul),
        vec![Some(centered), Some(centered)],
    )?;
    let var = c.inner("variance", mean_over(axes), vec![Some(sq)])?;
    Ok((mean, centered, var))
}

/// BatchNormalization with `training_mode = 1` (opset 14+): outputs Y, running_mean,
/// running_var.
fn batch_norm_training(c: &mut NodeCtx<'_>, epsilon: f32) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    if xd.len() < 2 {
        return Err(c.shape_error(format!("needs [N, C, ...], got {xd:?}")));
    }
    let channels = xd[1];
    let (scale, bias, mean_in, var_in) = (c.req(1)?, c.req(2)?, c.req(3)?, c.req(4)?);
    let momentum = f64::from(c.attrs.float("momentum", 0.9)?);
    let axes: Vec<usize> = (0..xd.len()).filter(|&a| a != 1).collect();
    let (mean, _, var) = centered_and_variance(c, x, &axes)?;
    let flat = |c: &mut NodeCtx<'_>, name: &str, v: ValueId| {
        c.inner(
            name,
            Op::Reshape(Reshape {
                shape: vec![channels],
            }),
            vec![Some(v)],
        )
    };
    let mean = flat(c, "batch_mean", mean)?;
    let var = flat(c, "batch_var", var)?;
    let y = c.emit_output(
        0,
        Op::BatchNorm(BatchNorm { epsilon }),
        vec![Some(x), Some(scale), Some(bias), Some(mean), Some(var)],
    )?;
    let mut outs = vec![y];
    // running = input · momentum + batch · (1 − momentum), in the statistics' type.
    for (i, (what, input, batch)) in [("mean", mean_in, mean), ("var", var_in, var)]
        .into_iter()
        .enumerate()
    {
        if c.output_count() <= i + 1 {
            break;
        }
        let dtype = c.ty(input).dtype;
        let k = |c: &mut NodeCtx<'_>, name: &str, v: f64| {
            c.constant(name, neoc_ir::Tensor::from_f64_as(dtype, vec![], &[v]))
        };
        let m = k(c, &format!("momentum_{what}"), momentum);
        let m1 = k(c, &format!("one_minus_momentum_{what}"), 1.0 - momentum);
        let batch = if c.ty(batch).dtype == dtype {
            batch
        } else {
            c.inner(
                &format!("batch_{what}_cast"),
                Op::Cast(Cast { to: dtype }),
                vec![Some(batch)],
            )?
        };
        let kept = c.inner(
            &format!("kept_{what}"),
            Op::Binary(BinaryOp::Mul),
            vec![Some(input), Some(m)],
        )?;
        let new = c.inner(
            &format!("new_{what}"),
            Op::Binary(BinaryOp::Mul),
            vec![Some(batch), Some(m1)],
        )?;
        outs.push(c.emit_output(
            i + 1,
            Op::Binary(BinaryOp::Add),
            vec![Some(kept), Some(new)],
        )?);
    }
    Ok(outs)
}

fn mean_variance_norm(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let dtype = c.ty(x).dtype;
    if !dtype.is_float() {
        return Err(c.shape_error(format!("needs a float input, got {dtype}")));
    }
    let axes = c.attrs.ints("axes")?.unwrap_or(&[0, 2, 3]).to_vec();
    let mut axes = axes
        .iter()
        .map(|&a| c.axis(a, rank))
        .collect::<Result<Vec<usize>, IrError>>()?;
    axes.sort_unstable();
    axes.dedup();
    let (_, centered, var) = centered_and_variance(c, x, &axes)?;
    let sd = c.inner("stddev", Op::Unary(UnaryOp::Sqrt), vec![Some(var)])?;
    let eps = c.constant(
        "epsilon",
        neoc_ir::Tensor::from_f64_as(dtype, vec![], &[1e-9]),
    );
    let den = c.inner(
        "stddev_eps",
        Op::Binary(BinaryOp::Add),
        vec![Some(sd), Some(eps)],
    )?;
    c.emit1(Op::Binary(BinaryOp::Div), vec![Some(centered), Some(den)])
}

fn softmax_at(c: &mut NodeCtx<'_>, log: bool, legacy: bool) -> Built {
    let x = c.req(0)?;
    let dims = c.dims(x)?;
    let default = if legacy { 1 } else { -1 };
    let axis = c.axis(c.attrs.int("axis", default)?, dims.len())?;
    if !legacy || axis + 1 == dims.len() {
        return c.emit1(Op::Softmax(Softmax { axis, log }), vec![Some(x)]);
    }
    // Coerce to [prod(dims[..axis]), prod(dims[axis..])], normalise rows, restore.
    let rows: u64 = dims[..axis].iter().product();
    let cols: u64 = dims[axis..].iter().product();
    let flat = c.inner(
        "to_2d",
        Op::Reshape(Reshape {
            shape: vec![rows, cols],
        }),
        vec![Some(x)],
    )?;
    let sm = c.inner(
        "softmax_2d",
        Op::Softmax(Softmax { axis: 1, log }),
        vec![Some(flat)],
    )?;
    c.emit1(Op::Reshape(Reshape { shape: dims }), vec![Some(sm)])
}

fn softmax(c: &mut NodeCtx<'_>) -> Built {
    softmax_at(c, false, false)
}
fn softmax_legacy(c: &mut NodeCtx<'_>) -> Built {
    softmax_at(c, false, true)
}
fn log_softmax(c: &mut NodeCtx<'_>) -> Built {
    softmax_at(c, true, false)
}
fn log_softmax_legacy(c: &mut NodeCtx<'_>) -> Built {
    softmax_at(c, true, true)
}
