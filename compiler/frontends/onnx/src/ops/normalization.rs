//! BatchNormalization (inference form), LayerNormalization, Softmax and LogSoftmax.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__BatchNormalization.html>,
//! <https://onnx.ai/onnx/operators/onnx__Softmax.html>. Opset notes:
//! - BatchNormalization 7–8 has `spatial` (default 1); `spatial = 0` (per-element
//!   statistics) is refused. From 14, `training_mode = 1` is refused. Only output 0 (Y)
//!   may be used; the running/saved statistics outputs exist only for training.
//!   `momentum` only matters in training and is ignored.
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
use neoc_ir::ops::{BatchNorm, BinaryOp, Expand, LayerNorm, Lrn, Reshape, Softmax};
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
        22,
        batch_norm,
        "training_mode=1 refused; only output Y",
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
    let mean_of = |kind_axes: Vec<usize>| {
        Op::Reduce(neoc_ir::ops::Reduce {
            kind: neoc_ir::ops::ReduceKind::Mean,
            axes: kind_axes,
            keepdims: true,
        })
    };
    let axes: Vec<usize> = (axis..rank).collect();
    let dtype = c.ty(x).dtype;
    let mean = c.inner("mean", mean_of(axes.clone()), vec![Some(x)])?;
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
    let var = c.inner("variance", mean_of(axes), vec![Some(sq)])?;
    let eps = c.constant(
        "epsilon",
        neoc_ir::Tensor::from_f64_as(dtype, vec![], &[f64::from(epsilon)]),
    );
    let v = c.inner(
        "var_eps",
        Op::Binary(BinaryOp::Add),
        vec![Some(var), Some(eps)],
    )?;
    let sd = c.inner(
        "stddev",
        Op::Unary(neoc_ir::ops::UnaryOp::Sqrt),
        vec![Some(v)],
    )?;
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
            c.emit_output(i, Op::Cast(neoc_ir::ops::Cast { to: stash }), vec![Some(t)])
        }
    };
    let mean_out = out(c, 1, Op::Identity, mean)?;
    let inv = out(c, 2, Op::Unary(neoc_ir::ops::UnaryOp::Reciprocal), sd)?;
    Ok(vec![y, mean_out, inv])
}

fn batch_norm(c: &mut NodeCtx<'_>) -> Built {
    if c.opset < 9 && c.attrs.int("spatial", 1)? != 1 {
        return Err(
            c.attr_error("spatial=0 (per-element statistics) is not supported; only spatial=1")
        );
    }
    if c.attrs.flag("training_mode", false)? {
        return Err(
            c.attr_error("training_mode=1 is not supported; export the model in inference mode")
        );
    }
    let epsilon = c.attrs.float("epsilon", 1e-5)?;
    let mut inputs = Vec::with_capacity(5);
    for i in 0..5 {
        inputs.push(Some(c.req(i)?));
    }
    c.emit1(Op::BatchNorm(BatchNorm { epsilon }), inputs)
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
