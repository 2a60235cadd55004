//! `SpaceToBatchND` and `BatchToSpaceND`, which TF wraps around a convolution to run it
//! dilated (`tf.nn.convolution` with `dilation_rate` > 1 and VALID-style padding).
//!
//! Both are exact data movement: SpaceToBatchND pads the spatial dims, splits each into
//! `(size / block, block)`, moves the block factors in front of the batch and merges
//! them into it; BatchToSpaceND undoes that and crops. Each is a Pad or Slice plus
//! Reshape, Transpose, Reshape.
//!
//! The pattern `SpaceToBatchND(x, b, pads) → Conv2D(VALID, stride 1) → BatchToSpaceND(b,
//! crops)` is one convolution of `x` with dilation `b` and padding `pads - crops` (the
//! conv of the batch-interleaved image visits exactly the taps `b` apart): the builders
//! record each step's [`Origin`] and BatchToSpaceND emits that convolution when the
//! chain is complete; the data-movement nodes built on the way are then dead.

use super::{op, Ctx, TfOp};
use crate::value::{Origin, Val};
use neoc_ir::ops::{Conv, Pad, PadMode, Slice, SliceAxis};
use neoc_ir::{IrError, Op};

pub(crate) const OPS: &[TfOp] = &[
    op(
        "SpaceToBatchND",
        space_to_batch,
        "block_shape and paddings constant; Pad, Reshape, Transpose, Reshape",
    ),
    op(
        "BatchToSpaceND",
        batch_to_space,
        "block_shape and crops constant; Reshape, Transpose, Reshape, Slice",
    ),
];

/// Block sizes (input 1) and begin/end amounts (input 2) for `m` spatial dims.
fn blocks(c: &mut Ctx<'_>, what: &str, d: &[u64]) -> Result<(Vec<u64>, Vec<[u64; 2]>), IrError> {
    let b = c.const_ints(1, "block_shape")?;
    let p = c.const_ints(2, what)?;
    let m = b.len();
    if m == 0 || m + 1 > d.len() || p.len() != 2 * m {
        return Err(c.err(format!(
            "block_shape {b:?} and {what} {p:?} do not fit shape {d:?}"
        )));
    }
    let b = b
        .iter()
        .map(|&x| {
            u64::try_from(x)
                .ok()
                .filter(|&x| (1..=1 << 31).contains(&x))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| c.err(format!("block_shape {b:?} must be between 1 and 2^31")))?;
    let p = p
        .chunks(2)
        .map(|q| {
            let get = |v: i64| u64::try_from(v).ok().filter(|&v| v <= 1 << 31);
            Some([get(q[0])?, get(q[1])?])
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| c.err(format!("{what} {p:?} must be between 0 and 2^31")))?;
    Ok((b, p))
}

fn space_to_batch(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let (b, p) = blocks(c, "paddings", &d)?;
    let m = b.len();
    let mut v = c.plain(x)?;
    if p.iter().any(|q| q[0] + q[1] > 0) {
        let mut pads = vec![0i64; 2 * d.len()];
        for i in 0..m {
            pads[1 + i] = p[i][0] as i64;
            pads[d.len() + 1 + i] = p[i][1] as i64;
        }
        v = c.add(
            Op::Pad(Pad {
                pads,
                mode: PadMode::Constant,
                value: 0.0,
            }),
            vec![v],
        )?;
    }
    // [N, S1, .., Sm, R..] → [N, S1/b1, b1, .., Sm/bm, bm, R..]
    let mut split = vec![d[0]];
    let mut outer = vec![];
    for i in 0..m {
        let s = d[1 + i] + p[i][0] + p[i][1];
        if s % b[i] != 0 {
            return Err(c.err(format!(
                "padded dim {} ({s}) is not a multiple of {}",
                1 + i,
                b[i]
            )));
        }
        split.extend([s / b[i], b[i]]);
        outer.push(s / b[i]);
    }
    split.extend(&d[1 + m..]);
    let v = c.reshape(v, split)?;
    // → [b1, .., bm, N, S1/b1, .., Sm/bm, R..]
    let mut perm: Vec<usize> = (0..m).map(|i| 2 + 2 * i).collect();
    perm.push(0);
    perm.extend((0..m).map(|i| 1 + 2 * i));
    perm.extend(1 + 2 * m..d.len() + m);
    let v = c.transpose(v, &perm)?;
    let mut shape = vec![d[0] * b.iter().product::<u64>()];
    shape.extend(outer);
    shape.extend(&d[1 + m..]);
    let v = c.reshape(v, shape)?;
    let out = c.plain_out(v);
    if let ([bh, bw], [ph, pw], 4) = (b.as_slice(), p.as_slice(), d.len()) {
        let o = Origin::SpaceToBatch {
            input: x,
            block: [*bh, *bw],
            pads: [*ph, *pw],
        };
        c.set_origin(out, o);
    }
    Ok(vec![out])
}

/// The dilated convolution a `SpaceToBatchND → Conv2D → BatchToSpaceND` chain computes,
/// when `x` ends such a chain with this `block` and `crops`.
fn dilated_conv(
    c: &mut Ctx<'_>,
    x: crate::value::TensorId,
    block: &[u64],
    crops: &[[u64; 2]],
) -> Result<Option<Val>, IrError> {
    let Some(Origin::BatchedConv {
        input,
        block: ob,
        pads,
        conv,
        w,
    }) = c.origin(x)
    else {
        return Ok(None);
    };
    if block != ob || crops.len() != 2 {
        return Ok(None);
    }
    let sub = |p: u64, q: u64| p.checked_sub(q);
    let (Some(t), Some(l), Some(bo), Some(r)) = (
        sub(pads[0][0], crops[0][0]),
        sub(pads[1][0], crops[1][0]),
        sub(pads[0][1], crops[0][1]),
        sub(pads[1][1], crops[1][1]),
    ) else {
        return Ok(None);
    };
    let dilated = Conv {
        pads: vec![t, l, bo, r],
        dilations: ob.to_vec(),
        ..conv
    };
    let xv = c.nchw(input)?;
    let v = c.add(Op::Conv(dilated), vec![xv, w])?;
    Ok(Some(c.nchw_out(v)))
}

fn batch_to_space(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let (b, crops) = blocks(c, "crops", &d)?;
    if let Some(v) = dilated_conv(c, x, &b, &crops)? {
        return Ok(vec![v]);
    }
    let m = b.len();
    let prod: u64 = b.iter().product();
    if d[0] % prod != 0 {
        return Err(c.err(format!("batch {} is not a multiple of {prod}", d[0])));
    }
    let n = d[0] / prod;
    // [b1..bm, N, S1..Sm, R..] → [N, S1, b1, .., Sm, bm, R..] → [N, S1·b1, .., R..]
    let mut split = b.clone();
    split.push(n);
    split.extend(&d[1..]);
    let v = c.plain(x)?;
    let v = c.reshape(v, split)?;
    let mut perm = vec![m];
    for i in 0..m {
        perm.extend([m + 1 + i, i]);
    }
    perm.extend(2 * m + 1..d.len() + m);
    let v = c.transpose(v, &perm)?;
    let mut shape = vec![n];
    shape.extend((0..m).map(|i| d[1 + i] * b[i]));
    shape.extend(&d[1 + m..]);
    let mut v = c.reshape(v, shape.clone())?;
    let axes: Vec<SliceAxis> = (0..m)
        .filter(|&i| crops[i][0] + crops[i][1] > 0)
        .map(|i| SliceAxis {
            axis: 1 + i,
            start: crops[i][0] as i64,
            end: shape[1 + i] as i64 - crops[i][1] as i64,
            step: 1,
        })
        .collect();
    if axes.iter().any(|a| a.end < a.start) {
        return Err(c.err(format!(
            "crops {crops:?} remove more than the dims {shape:?}"
        )));
    }
    if !axes.is_empty() {
        v = c.add(Op::Slice(Slice { axes }), vec![v])?;
    }
    Ok(vec![c.plain_out(v)])
}
