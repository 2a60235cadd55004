//! Convolution, FullyConnected, BatchNorm, Pooling, activations, softmax and Dropout.
//!
//! MXNet is NCHW (`layout` other than NCHW/NCW/NCDHW is refused), so these map onto the
//! IR's ops directly. `pooling_convention=full` is ceil mode (an output size that
//! differs from MXNet's formula is refused rather than computed differently);
//! `count_include_pad` defaults to true as in MXNet; `fix_gamma` (default true) uses a
//! scale of one.

use super::{op, Ctx, MxOp};
use neoc_ir::ops::{
    BatchNorm, BinaryOp, Conv, Gemm, GlobalPool, Pool, PoolKind, Softmax, Transpose, UnaryOp,
};
use neoc_ir::{IrError, Op, Tensor, ValueId};

pub(crate) const OPS: &[MxOp] = &[
    op(
        "Convolution",
        convolution,
        "N-d, grouped (num_group), dilated; NCHW",
    ),
    op(
        "FullyConnected",
        fully_connected,
        "Gemm; flatten=True reshapes to 2-D first",
    ),
    op("BatchNorm", batch_norm, "inference; fix_gamma; axis 1"),
    op(
        "Pooling",
        pooling,
        "max/avg, global_pool, pooling_convention valid/full, count_include_pad",
    ),
    op(
        "Activation",
        activation,
        "relu, sigmoid, tanh, softrelu, softsign",
    ),
    op(
        "LeakyReLU",
        leaky_relu,
        "leaky, elu, selu, gelu, prelu (per-channel gamma)",
    ),
    op("softmax", softmax, "axis (default -1), temperature"),
    op("log_softmax", log_softmax, "axis (default -1)"),
    op(
        "SoftmaxActivation",
        softmax_activation,
        "mode instance (last axis) or channel (axis 1)",
    ),
    MxOp {
        name: "SoftmaxOutput",
        build: softmax_output,
        note: "Softmax over the flattened trailing dims; the label input is ignored",
        reads: 1,
    },
    op("Dropout", dropout, "Identity (inference)"),
];

fn spatial(c: &Ctx<'_>) -> Result<usize, IrError> {
    let k = c
        .tuple("kernel")?
        .map(|k| k.len())
        .ok_or_else(|| c.attr_err("`kernel` is missing"))?;
    let layout = c.string("layout", "None");
    let ok = matches!(
        (layout.as_str(), k),
        ("None", _) | ("NCW", 1) | ("NCHW", 2) | ("NCDHW", 3)
    );
    if !ok || k == 0 {
        return Err(c.attr_err(format!(
            "layout {layout} with a {k}-d kernel is not supported (channels-first only)"
        )));
    }
    Ok(k)
}

fn convolution(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let k = spatial(c)?;
    let (x, w) = (c.input(0)?, c.input(1)?);
    let kernel = c.window("kernel", k, 1)?;
    let strides = c.window("stride", k, 1)?;
    let dilations = c.window("dilate", k, 1)?;
    let pad = c.window("pad", k, 0)?;
    let group = u64::try_from(c.int("num_group", 1)?)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| c.attr_err("num_group must be positive"))?;
    let bias = if c.bool("no_bias", false)? {
        None
    } else {
        Some(c.input(2)?)
    };
    let conv = Conv {
        kernel,
        strides,
        pads: [pad.clone(), pad].concat(),
        dilations,
        group,
    };
    Ok(vec![
        c.add_opt(Op::Conv(conv), vec![Some(x), Some(w), bias])?
    ])
}

fn fully_connected(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let bias = if c.bool("no_bias", false)? {
        None
    } else {
        Some(c.input(2)?)
    };
    let d = c.dims(x)?;
    if d.is_empty() {
        return Err(c.err("data must have rank 1 or more"));
    }
    if c.bool("flatten", true)? || d.len() <= 2 {
        let x2 = if d.len() == 2 {
            x
        } else {
            let rest: u64 = d[1..].iter().product();
            c.reshape(x, vec![d[0], rest])?
        };
        let gemm = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        };
        return Ok(vec![
            c.add_opt(Op::Gemm(gemm), vec![Some(x2), Some(w), bias])?
        ]);
    }
    let wt = c.add(Op::Transpose(Transpose { perm: vec![1, 0] }), vec![w])?;
    let mut y = c.add(Op::MatMul, vec![x, wt])?;
    if let Some(b) = bias {
        y = c.add(Op::Binary(BinaryOp::Add), vec![y, b])?;
    }
    Ok(vec![y])
}

fn batch_norm(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let rank = c.dims(x)?.len();
    let axis = c.int("axis", 1)?;
    if axis != 1 && axis != 1 - rank as i64 {
        return Err(c.attr_err(format!(
            "axis {axis} is not supported (the channel axis 1 is)"
        )));
    }
    let mut gamma = c.input(1)?;
    if c.bool("fix_gamma", true)? {
        let n = c.dims(gamma)?;
        let ones = vec![1.0f64; n.iter().product::<u64>() as usize];
        let dt = c.dtype(gamma);
        gamma = c.constant(Tensor::from_f64_as(dt, n, &ones));
    }
    let (beta, mean, var) = (c.input(2)?, c.input(3)?, c.input(4)?);
    let epsilon = c.float("eps", 1e-3)? as f32;
    let y = c.add(
        Op::BatchNorm(BatchNorm { epsilon }),
        vec![x, gamma, beta, mean, var],
    )?;
    // Outputs 1 and 2 (batch mean and variance) are the running statistics in inference.
    Ok(vec![y, mean, var])
}

fn pooling(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let k = d.len().saturating_sub(2);
    if k == 0 {
        return Err(c.err(format!("input {d:?} has no spatial dims")));
    }
    let kind = match c.string("pool_type", "max").as_str() {
        "max" => PoolKind::Max,
        "avg" => PoolKind::Avg {
            count_include_pad: c.bool("count_include_pad", true)?,
        },
        t => return Err(c.attr_err(format!("pool_type {t} is not supported (max, avg)"))),
    };
    if c.bool("global_pool", false)? {
        return Ok(vec![c.add(Op::GlobalPool(GlobalPool { kind }), vec![x])?]);
    }
    let kernel = c.window("kernel", k, 1)?;
    let strides = c.window("stride", k, 1)?;
    let pad = c.window("pad", k, 0)?;
    let ceil_mode = match c.string("pooling_convention", "valid").as_str() {
        "valid" => false,
        "full" => true,
        p => return Err(c.attr_err(format!("pooling_convention {p} is not supported"))),
    };
    let p = Pool {
        kind,
        kernel: kernel.clone(),
        strides: strides.clone(),
        pads: [pad.clone(), pad.clone()].concat(),
        dilations: vec![1; k],
        ceil_mode,
    };
    let y = c.add(Op::Pool(p), vec![x])?;
    // MXNet's "full": 1 + ceil((in + 2p - k) / s), with no window dropped.
    let yd = c.dims(y)?;
    for i in 0..k {
        let span = (d[2 + i] + 2 * pad[i]).saturating_sub(kernel[i]);
        let want = if ceil_mode {
            1 + span.div_ceil(strides[i])
        } else {
            1 + span / strides[i]
        };
        if yd[2 + i] != want {
            return Err(c.attr_err(format!(
                "pooling_convention=full with this padding gives {want} outputs on dim {i} in \
                 MXNet, which neoc's ceil mode does not reproduce"
            )));
        }
    }
    Ok(vec![y])
}

fn unary(c: &mut Ctx<'_>, u: UnaryOp) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    Ok(vec![c.add(Op::Unary(u), vec![x])?])
}

/// `x / (1 + |x|)`.
pub(crate) fn softsign(c: &mut Ctx<'_>, x: ValueId) -> Result<ValueId, IrError> {
    let a = c.add(Op::Unary(UnaryOp::Abs), vec![x])?;
    let one = c.scalar(c.dtype(x), 1.0);
    let d = c.add(Op::Binary(BinaryOp::Add), vec![a, one])?;
    c.add(Op::Binary(BinaryOp::Div), vec![x, d])
}

fn activation(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    match c.string("act_type", "").as_str() {
        "relu" => unary(c, UnaryOp::Relu),
        "sigmoid" => unary(c, UnaryOp::Sigmoid),
        "tanh" => unary(c, UnaryOp::Tanh),
        "softrelu" => unary(c, UnaryOp::Softplus),
        "softsign" => {
            let x = c.input(0)?;
            Ok(vec![softsign(c, x)?])
        }
        t => Err(c.attr_err(format!("act_type `{t}` is not supported"))),
    }
}

fn leaky_relu(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let slope = c.float("slope", 0.25)? as f32;
    match c.string("act_type", "leaky").as_str() {
        "leaky" => unary(c, UnaryOp::LeakyRelu { alpha: slope }),
        "elu" => unary(c, UnaryOp::Elu { alpha: slope }),
        "gelu" => unary(c, UnaryOp::Gelu { tanh: false }),
        "selu" => {
            const ALPHA: f64 = 1.673_263_242_354_377_3;
            const SCALE: f64 = 1.050_700_987_355_480_5;
            let x = c.input(0)?;
            let e = c.add(
                Op::Unary(UnaryOp::Elu {
                    alpha: ALPHA as f32,
                }),
                vec![x],
            )?;
            let s = c.scalar(c.dtype(x), SCALE);
            Ok(vec![c.add(Op::Binary(BinaryOp::Mul), vec![e, s])?])
        }
        "prelu" => {
            // x + (gamma - 1) · min(x, 0), gamma per channel (axis 1).
            let (x, gamma) = (c.input(0)?, c.input(1)?);
            let d = c.dims(x)?;
            let gd = c.dims(gamma)?;
            let g = if gd.len() == 1 && d.len() > 2 && gd[0] == d[1] {
                let mut shape = vec![gd[0]];
                shape.resize(d.len() - 1, 1);
                c.reshape(gamma, shape)?
            } else {
                gamma
            };
            let dt = c.dtype(x);
            let (zero, one) = (c.scalar(dt, 0.0), c.scalar(dt, 1.0));
            let neg = c.add(Op::Binary(BinaryOp::Min), vec![x, zero])?;
            let gm = c.add(Op::Binary(BinaryOp::Sub), vec![g, one])?;
            let t = c.add(Op::Binary(BinaryOp::Mul), vec![neg, gm])?;
            Ok(vec![c.add(Op::Binary(BinaryOp::Add), vec![x, t])?])
        }
        t => Err(c.attr_err(format!("act_type `{t}` is not supported"))),
    }
}

fn softmax_on(c: &mut Ctx<'_>, x: ValueId, axis: i64, log: bool) -> Result<ValueId, IrError> {
    let rank = c.dims(x)?.len();
    let axis = neoc_ir::shape::normalize_axis(axis, rank).map_err(|e| e.at(c.name(), c.op()))?;
    c.add(Op::Softmax(Softmax { axis, log }), vec![x])
}

fn softmax_of(c: &mut Ctx<'_>, log: bool) -> Result<Vec<ValueId>, IrError> {
    let mut x = c.input(0)?;
    let axis = c.int("axis", -1)?;
    if c.has("temperature") {
        let t = c.float("temperature", 1.0)?;
        if t != 1.0 {
            let s = c.scalar(c.dtype(x), t);
            x = c.add(Op::Binary(BinaryOp::Div), vec![x, s])?;
        }
    }
    if c.bool("use_length", false)? {
        return Err(c.attr_err("use_length (masked softmax) is not supported"));
    }
    Ok(vec![softmax_on(c, x, axis, log)?])
}

fn softmax(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    softmax_of(c, false)
}

fn log_softmax(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    softmax_of(c, true)
}

fn softmax_activation(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let axis = match c.string("mode", "instance").as_str() {
        "channel" => 1,
        _ => -1,
    };
    Ok(vec![softmax_on(c, x, axis, false)?])
}

fn softmax_output(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    if c.bool("multi_output", false)? {
        return Ok(vec![softmax_on(c, x, 1, false)?]);
    }
    if c.bool("preserve_shape", false)? || d.len() <= 2 {
        return Ok(vec![softmax_on(c, x, -1, false)?]);
    }
    let rest: u64 = d[1..].iter().product();
    let flat = c.reshape(x, vec![d[0], rest])?;
    let s = softmax_on(c, flat, 1, false)?;
    Ok(vec![c.reshape(s, d)?])
}

fn dropout(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    Ok(vec![c.input(0)?])
}
