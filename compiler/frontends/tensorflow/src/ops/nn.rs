//! Convolutions, pooling, batch normalisation, softmax and matrix products.
//!
//! Spatial ops take NHWC (`data_format` default) or NCHW. An NHWC input is used in its
//! NCHW form and the result is held only in NCHW form ([`crate::value`]); filters are
//! converted at import (HWIO → OIHW, depthwise HWCM → (C·M)1HW), which constant
//! folding does once. `SAME` padding puts the odd pixel at the end (the IR's
//! `SAME_UPPER`); `AvgPool` never counts padding, as TF does.

use super::{op, Ctx, TfOp};
use crate::value::{Origin, TensorId, Val};
use neoc_ir::ops::conv::{resolve_auto_pad, AutoPad};
use neoc_ir::ops::{
    BatchNorm, BinaryOp, Conv, Gemm, Pool, PoolKind, Reduce, ReduceKind, Softmax, UnaryOp,
};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[TfOp] = &[
    op("Conv2D", conv2d, "NHWC/NCHW; HWIO filter transposed at import; SAME/VALID/EXPLICIT; groups when input channels are a multiple of the filter's"),
    op("DepthwiseConv2dNative", depthwise, "grouped Conv; HWCM filter reordered at import"),
    op("MaxPool", max_pool, "SAME/VALID"),
    op("AvgPool", avg_pool, "SAME/VALID; padding never counted"),
    op("FusedBatchNorm", fused_batch_norm, "given statistics; is_training=true: the batch's (N, H, W) statistics"),
    op("FusedBatchNormV2", fused_batch_norm, "as FusedBatchNorm"),
    op("FusedBatchNormV3", fused_batch_norm, "as FusedBatchNorm"),
    op("Softmax", softmax, "last axis"),
    op("LogSoftmax", log_softmax, "last axis"),
    op("MatMul", matmul, "Gemm with transpose_a/transpose_b"),
    op("BatchMatMul", batch_matmul, "MatMul; adj_x/adj_y transpose the last two dims"),
    op("BatchMatMulV2", batch_matmul, "as BatchMatMul, broadcasting"),
    op("BatchMatMulV3", batch_matmul, "as BatchMatMulV2 (same input and output types)"),
];

/// The spatial input of a 2-D op as an NCHW IR value, and whether its TF layout is NHWC.
fn spatial_input(c: &mut Ctx<'_>, x: TensorId) -> Result<(ValueId, bool), IrError> {
    let nhwc = c.channels_last()?;
    let rank = c.rank(x)?;
    if rank != 4 {
        return Err(c.err(format!("expects a rank-4 input, got rank {rank}")));
    }
    let v = if nhwc { c.nchw(x)? } else { c.plain(x)? };
    Ok((v, nhwc))
}

/// Wraps an NCHW result in the node's layout.
fn spatial_output(c: &mut Ctx<'_>, v: ValueId, nhwc: bool) -> Val {
    if nhwc {
        c.nchw_out(v)
    } else {
        c.plain_out(v)
    }
}

/// The (H, W) entries of a 4-entry per-dim attribute (`strides`, `ksize`, `dilations`).
fn hw(c: &Ctx<'_>, name: &str, nhwc: bool, default: Option<u64>) -> Result<[u64; 2], IrError> {
    let v = match c.attr_ints(name) {
        Ok(v) => v,
        Err(e) => match default {
            Some(d) => return Ok([d, d]),
            None => return Err(e),
        },
    };
    let (h, w) = if nhwc { (1, 2) } else { (2, 3) };
    match v.as_slice() {
        [_, _, _, _] => {
            let (n, ch) = if nhwc { (v[0], v[3]) } else { (v[0], v[1]) };
            if n != 1 || ch != 1 {
                return Err(c.attr_err(format!(
                    "`{name}` {v:?} must be 1 in the batch and channel dims"
                )));
            }
            let get = |i: usize| {
                u64::try_from(v[i])
                    .ok()
                    .filter(|&x| (1..=1 << 31).contains(&x))
                    .ok_or_else(|| c.attr_err(format!("`{name}` {v:?} must be between 1 and 2^31")))
            };
            Ok([get(h)?, get(w)?])
        }
        _ => Err(c.attr_err(format!("`{name}` must have 4 entries, got {v:?}"))),
    }
}

/// IR pads `[top, left, bottom, right]` for `padding` over input spatial dims `input`.
fn pads(
    c: &Ctx<'_>,
    input: [u64; 2],
    kernel: [u64; 2],
    strides: [u64; 2],
    dilations: [u64; 2],
    nhwc: bool,
) -> Result<Vec<u64>, IrError> {
    match c.padding().as_str() {
        "VALID" => Ok(vec![0; 4]),
        "SAME" => Ok(resolve_auto_pad(
            AutoPad::SameUpper,
            &input,
            &kernel,
            &strides,
            &dilations,
            &[],
        )),
        "EXPLICIT" => {
            let e = c.explicit_paddings();
            let (h, w) = if nhwc { (1, 2) } else { (2, 3) };
            if e.len() != 8 || e.iter().any(|&p| p < 0) {
                return Err(c.attr_err(format!(
                    "explicit_paddings {e:?} must be 8 non-negative values"
                )));
            }
            Ok(vec![
                e[2 * h] as u64,
                e[2 * w] as u64,
                e[2 * h + 1] as u64,
                e[2 * w + 1] as u64,
            ])
        }
        p => Err(c.attr_err(format!("padding `{p}` is not supported"))),
    }
}

fn conv2d(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    conv(c, false)
}

fn depthwise(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    conv(c, true)
}

fn conv(c: &mut Ctx<'_>, depthwise: bool) -> Result<Vec<Val>, IrError> {
    let (x, f) = (c.input(0)?, c.input(1)?);
    let (xv, nhwc) = spatial_input(c, x)?;
    let xd =
        c.g.value(xv)
            .ty
            .dims()
            .map_err(|e| e.at(c.name(), c.op()))?;
    let fd = c.dims(f)?;
    if fd.len() != 4 {
        return Err(c.err(format!("filter must have rank 4, got {fd:?}")));
    }
    let strides = hw(c, "strides", nhwc, None)?;
    let dilations = hw(c, "dilations", nhwc, Some(1))?;
    let fv = c.plain(f)?;
    let (w, group) = if depthwise {
        // [H, W, C, M] → [C, M, H, W] → [C·M, 1, H, W]: output channel c·M + m.
        let t = c.transpose(fv, &[2, 3, 0, 1])?;
        let w = c.reshape(t, vec![fd[2] * fd[3], 1, fd[0], fd[1]])?;
        (w, fd[2])
    } else {
        let w = c.transpose(fv, &[3, 2, 0, 1])?;
        if fd[2] == 0 || xd[1] % fd[2] != 0 {
            return Err(c.err(format!(
                "input has {} channels, the filter expects a multiple of {}",
                xd[1], fd[2]
            )));
        }
        (w, xd[1] / fd[2])
    };
    let kernel = [fd[0], fd[1]];
    let pads = pads(c, [xd[2], xd[3]], kernel, strides, dilations, nhwc)?;
    let conv = Conv {
        kernel: kernel.to_vec(),
        strides: strides.to_vec(),
        pads,
        dilations: dilations.to_vec(),
        group,
    };
    let plain_conv = nhwc
        && conv.strides == [1, 1]
        && conv.dilations == [1, 1]
        && conv.pads.iter().all(|&p| p == 0);
    let batched = match c.origin(x) {
        Some(Origin::SpaceToBatch { input, block, pads }) if plain_conv => {
            Some(Origin::BatchedConv {
                input,
                block,
                pads,
                conv: conv.clone(),
                w,
            })
        }
        _ => None,
    };
    let v = c.add(Op::Conv(conv), vec![xv, w])?;
    let out = spatial_output(c, v, nhwc);
    if let Some(o) = batched {
        c.set_origin(out, o);
    }
    Ok(vec![out])
}

fn pool(c: &mut Ctx<'_>, kind: PoolKind) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let (xv, nhwc) = spatial_input(c, x)?;
    let xd =
        c.g.value(xv)
            .ty
            .dims()
            .map_err(|e| e.at(c.name(), c.op()))?;
    let kernel = hw(c, "ksize", nhwc, None)?;
    let strides = hw(c, "strides", nhwc, None)?;
    let pads = pads(c, [xd[2], xd[3]], kernel, strides, [1, 1], nhwc)?;
    let p = Pool {
        kind,
        kernel: kernel.to_vec(),
        strides: strides.to_vec(),
        pads,
        dilations: vec![1, 1],
        ceil_mode: false,
    };
    let v = c.add(Op::Pool(p), vec![xv])?;
    Ok(vec![spatial_output(c, v, nhwc)])
}

fn max_pool(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    pool(c, PoolKind::Max)
}

fn avg_pool(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    pool(
        c,
        PoolKind::Avg {
            count_include_pad: false,
        },
    )
}

/// Outputs: `y`, then `batch_mean`/`batch_variance` (the given statistics, as in
/// inference), then the reserve spaces (also the statistics; nothing reads them in an
/// inference graph). With `is_training=true` the statistics are the batch's own
/// (tf_keras' LayerNormalization uses that to normalise): see [`batch_stats_norm`].
fn fused_batch_norm(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let (xv, nhwc) = spatial_input(c, x)?;
    let epsilon = c.attr_f("epsilon", 1e-4);
    if c.attr_b("is_training", true) {
        return batch_stats_norm(c, xv, nhwc, epsilon);
    }
    let stats = (1..5)
        .map(|i| {
            let t = c.input(i)?;
            c.plain(t)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut ins = vec![xv];
    ins.extend(&stats);
    let v = c.add(Op::BatchNorm(BatchNorm { epsilon }), ins)?;
    let y = spatial_output(c, v, nhwc);
    let (mean, var) = (c.val(3)?, c.val(4)?);
    Ok(vec![y, mean, var, mean, var, mean])
}

/// Training-mode FusedBatchNorm: normalises by the mean and (biased) variance over N,
/// H, W of each channel; `batch_variance` is the unbiased one, as TF returns it.
fn batch_stats_norm(
    c: &mut Ctx<'_>,
    xv: ValueId,
    nhwc: bool,
    epsilon: f32,
) -> Result<Vec<Val>, IrError> {
    let d =
        c.g.value(xv)
            .ty
            .dims()
            .map_err(|e| e.at(c.name(), c.op()))?;
    let dt = c.g.value(xv).ty.dtype;
    let per_channel = |c: &mut Ctx<'_>, i: usize| -> Result<ValueId, IrError> {
        let t = c.input(i)?;
        let v = c.plain(t)?;
        c.reshape(v, vec![d[1], 1, 1])
    };
    let (scale, offset) = (per_channel(c, 1)?, per_channel(c, 2)?);
    let mean_of = |c: &mut Ctx<'_>, v: ValueId| {
        c.add(
            Op::Reduce(Reduce {
                kind: ReduceKind::Mean,
                axes: vec![0, 2, 3],
                keepdims: true,
            }),
            vec![v],
        )
    };
    let mean = mean_of(c, xv)?;
    let centered = c.add(Op::Binary(BinaryOp::Sub), vec![xv, mean])?;
    let sq = c.add(Op::Binary(BinaryOp::Mul), vec![centered, centered])?;
    let var = mean_of(c, sq)?;
    let eps = c.scalar(dt, f64::from(epsilon));
    let ve = c.add(Op::Binary(BinaryOp::Add), vec![var, eps])?;
    let sd = c.add(Op::Unary(UnaryOp::Sqrt), vec![ve])?;
    let k = c.add(Op::Binary(BinaryOp::Div), vec![scale, sd])?;
    let scaled = c.add(Op::Binary(BinaryOp::Mul), vec![centered, k])?;
    let y = c.add(Op::Binary(BinaryOp::Add), vec![scaled, offset])?;
    let y = spatial_output(c, y, nhwc);
    let n = d[0] * d[2] * d[3];
    let mean_c = c.reshape(mean, vec![d[1]])?;
    let var_c = c.reshape(var, vec![d[1]])?;
    let bessel = c.scalar(dt, n as f64 / (n.max(2) - 1) as f64);
    let var_u = c.add(Op::Binary(BinaryOp::Mul), vec![var_c, bessel])?;
    let (m, v) = (c.plain_out(mean_c), c.plain_out(var_u));
    Ok(vec![y, m, v, m, v, m])
}

fn softmax_of(c: &mut Ctx<'_>, log: bool) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let rank = c.rank(x)?;
    if rank == 0 {
        return Err(c.err("logits must have rank 1 or more"));
    }
    let v = c.plain(x)?;
    let s = c.add(
        Op::Softmax(Softmax {
            axis: rank - 1,
            log,
        }),
        vec![v],
    )?;
    Ok(vec![c.plain_out(s)])
}

fn softmax(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    softmax_of(c, false)
}

fn log_softmax(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    softmax_of(c, true)
}

fn matmul(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let (av, bv) = (c.plain(a)?, c.plain(b)?);
    let gemm = Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: c.attr_b("transpose_a", false),
        trans_b: c.attr_b("transpose_b", false),
    };
    let v = c.add(Op::Gemm(gemm), vec![av, bv])?;
    Ok(vec![c.plain_out(v)])
}

/// Swaps the last two dims of `v` (rank ≥ 2).
pub(crate) fn swap_last_two(c: &mut Ctx<'_>, v: ValueId) -> Result<ValueId, IrError> {
    let r = c.g.value(v).ty.rank();
    if r < 2 {
        return Err(c.err("operands of a matrix product must have rank 2 or more"));
    }
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    c.transpose(v, &perm)
}

fn batch_matmul(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let (mut av, mut bv) = (c.plain(a)?, c.plain(b)?);
    if c.attr_b("adj_x", false) {
        av = swap_last_two(c, av)?;
    }
    if c.attr_b("adj_y", false) {
        bv = swap_last_two(c, bv)?;
    }
    let v = c.add(Op::MatMul, vec![av, bv])?;
    Ok(vec![c.plain_out(v)])
}
