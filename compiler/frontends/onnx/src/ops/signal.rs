//! DFT and STFT, desugared into products with constant cosine and sine matrices.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__DFT.html>. The input's last dim holds the
//! real part (size 1) or real and imaginary parts (size 2); the transform runs along
//! `axis` (an attribute before opset 20, a constant input from 20). With
//! `C[j, k] = cos(2πjk/n)` and `S[j, k] = sin(2πjk/n)` (built at import, in f64), the
//! forward transform is `re = xr·C + xi·S`, `im = xi·C − xr·S`; the inverse flips the
//! sines' sign and divides by `n`; `onesided` keeps the first `n/2 + 1` columns.
//! `dft_length` must be absent or equal to the axis length.
//!
//! STFT (17+, <https://onnx.ai/onnx/operators/onnx__STFT.html>) cuts the signal
//! `[batch, length, 1 or 2]` into `1 + (length − frame_length) / frame_step` frames with
//! one Gather of a constant `[frames, frame_length]` index table (every frame lies inside
//! the signal, so there is no padding), multiplies by the window (broadcast over frames
//! and the complex dim) and takes the same DFT along the frame axis, giving
//! `[batch, frames, bins, 2]` (`onesided`, the default, keeps `frame_length/2 + 1` bins).
//! `frame_step` and `frame_length` must be constants; `frame_length` defaults to the
//! window's length, else the signal's, and must equal the window's when both are given.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{BinaryOp, Concat, Gather, Reshape, Slice, SliceAxis, Transpose};
use neoc_ir::{IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "DFT",
        17,
        19,
        dft,
        "MatMul by constant cos/sin matrices; dft_length = the axis length",
    ),
    spec("DFT", 20, 22, dft, "as 17-19, axis a constant input"),
    spec(
        "STFT",
        17,
        22,
        stft,
        "frames by one Gather, window multiply, then DFT's cos/sin products; frame_step and frame_length constant",
    ),
];

fn dft(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.dims(x)?.len();
    let axis = if c.opset >= 20 {
        match c.input(2) {
            Some(_) => match c.const_ints(2, "axis")? {
                Some(v) if v.len() == 1 => v[0],
                _ => return Err(c.not_constant("axis")),
            },
            None => -2,
        }
    } else {
        c.attrs.int("axis", 1)?
    };
    let axis = c.axis(axis, rank)?;
    if let Some(&n) = c.dims(x)?.get(axis) {
        if c.input(1).is_some() {
            match c.const_ints(1, "dft_length")? {
                Some(v) if v.len() == 1 && v[0] == n as i64 => {}
                _ => {
                    return Err(c.shape_error(format!(
                        "dft_length must be a constant equal to the axis length {n}"
                    )))
                }
            }
        }
    }
    let inverse = c.attrs.flag("inverse", false)?;
    let onesided = c.attrs.flag("onesided", false)?;
    let (last, input) = transform(c, x, axis, inverse, onesided)?;
    c.emit1(last, vec![Some(input)])
}

/// The DFT of `x` (`[batch, ..., 1 or 2]`, float) along `axis` (a dim strictly between
/// the first and the last): every node but the last, which is returned with its input so
/// that the caller adds it as the ONNX node's output.
pub(super) fn transform(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    axis: usize,
    inverse: bool,
    onesided: bool,
) -> Result<(Op, ValueId), IrError> {
    let xd = c.dims(x)?;
    let dtype = c.ty(x).dtype;
    let rank = xd.len();
    if rank < 3 || !(xd[rank - 1] == 1 || xd[rank - 1] == 2) || !dtype.is_float() {
        return Err(c.shape_error(format!(
            "input {xd:?} must be float [batch, ..., 1 or 2] (real, or real and imaginary)"
        )));
    }
    // The signal axis among the dims before the complex one.
    if axis == 0 || axis >= rank - 1 {
        return Err(c.attr_error(format!("axis {axis} is not a signal axis of {xd:?}")));
    }
    let n = xd[axis];
    let m = if onesided { n / 2 + 1 } else { n };
    let mut tag = 0;
    // Real and imaginary parts with the signal axis last: [..., n].
    let mut perm: Vec<usize> = (0..rank - 1).filter(|&d| d != axis).collect();
    perm.push(axis);
    perm.push(rank - 1);
    let moved = op(
        c,
        &mut tag,
        Op::Transpose(Transpose { perm: perm.clone() }),
        &[x],
    )?;
    let mut md: Vec<u64> = perm.iter().map(|&d| xd[d]).collect();
    let part = |c: &mut NodeCtx<'_>, tag: &mut usize, i: i64| {
        let s = Slice {
            axes: vec![SliceAxis {
                axis: rank - 1,
                start: i,
                end: i + 1,
                step: 1,
            }],
        };
        let v = op(c, tag, Op::Slice(s), &[moved])?;
        let shape = md[..rank - 1].to_vec();
        op(c, tag, Op::Reshape(Reshape { shape }), &[v])
    };
    let xr = part(c, &mut tag, 0)?;
    let xi = if xd[rank - 1] == 2 {
        Some(part(c, &mut tag, 1)?)
    } else {
        None
    };
    let scale = if inverse { 1.0 / n as f64 } else { 1.0 };
    let sign = if inverse { -1.0 } else { 1.0 };
    c.built_elements(&[n, m], 8)?;
    let (mut cos, mut sin) = (Vec::new(), Vec::new());
    for j in 0..n {
        for k in 0..m {
            let theta = 2.0 * std::f64::consts::PI * ((j * k) % n) as f64 / n as f64;
            cos.push(theta.cos() * scale);
            sin.push(sign * theta.sin() * scale);
        }
    }
    let cm = c.constant("cos", Tensor::from_f64_as(dtype, vec![n, m], &cos));
    let sm = c.constant("sin", Tensor::from_f64_as(dtype, vec![n, m], &sin));
    // re = xr·C + xi·S', im = xi·C − xr·S' (S' carries the direction's sign).
    let rc = op(c, &mut tag, Op::MatMul, &[xr, cm])?;
    let rs = op(c, &mut tag, Op::MatMul, &[xr, sm])?;
    let (re, im) = match xi {
        Some(xi) => {
            let ic = op(c, &mut tag, Op::MatMul, &[xi, cm])?;
            let is = op(c, &mut tag, Op::MatMul, &[xi, sm])?;
            (
                op(c, &mut tag, Op::Binary(BinaryOp::Add), &[rc, is])?,
                op(c, &mut tag, Op::Binary(BinaryOp::Sub), &[ic, rs])?,
            )
        }
        None => {
            let zero = c.constant("zero", Tensor::from_f64_as(dtype, vec![], &[0.0]));
            (rc, op(c, &mut tag, Op::Binary(BinaryOp::Sub), &[zero, rs])?)
        }
    };
    // Stack as [..., m, 2], then move the signal axis back.
    md[rank - 2] = m;
    md[rank - 1] = 1;
    let re = op(
        c,
        &mut tag,
        Op::Reshape(Reshape { shape: md.clone() }),
        &[re],
    )?;
    let im = op(c, &mut tag, Op::Reshape(Reshape { shape: md }), &[im])?;
    let both = op(
        c,
        &mut tag,
        Op::Concat(Concat { axis: rank - 1 }),
        &[re, im],
    )?;
    let mut back = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        back[p] = i;
    }
    Ok((Op::Transpose(Transpose { perm: back }), both))
}

fn stft(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let [_, length, _] = xd[..] else {
        return Err(c.shape_error(format!("signal {xd:?} must be [batch, length, 1 or 2]")));
    };
    let scalar = |c: &NodeCtx<'_>, i: usize, what: &str| -> Result<Option<i64>, IrError> {
        match c.const_ints(i, what)? {
            Some(v) if v.len() == 1 => Ok(v.first().copied()),
            Some(v) => Err(c.shape_error(format!(
                "{what} (input {i}) must be a scalar, got {} values",
                v.len()
            ))),
            None => Ok(None),
        }
    };
    let step = scalar(c, 1, "frame_step")?
        .ok_or_else(|| c.shape_error("input 1 (frame_step) is required"))?;
    let window = c.input(2);
    let window_len = match window {
        Some(w) => match c.dims(w)?[..] {
            [n] => Some(n),
            ref d => return Err(c.shape_error(format!("window {d:?} must be 1-D"))),
        },
        None => None,
    };
    let frame_len = match (scalar(c, 3, "frame_length")?, window_len) {
        (Some(f), Some(w)) if u64::try_from(f) != Ok(w) => {
            return Err(c.shape_error(format!(
                "frame_length {f} differs from the window's length {w}"
            )))
        }
        (Some(f), _) => u64::try_from(f).unwrap_or(0),
        (None, Some(w)) => w,
        (None, None) => length,
    };
    let step = u64::try_from(step).unwrap_or(0);
    if step == 0 || frame_len == 0 || frame_len > length {
        return Err(c.shape_error(format!(
            "frame_step {step} must be positive and frame_length {frame_len} in 1..={length}"
        )));
    }
    let frames = (length - frame_len) / step + 1;
    let n = c.built_elements(&[frames, frame_len], 8)?;
    let mut index = Vec::with_capacity(n as usize);
    for f in 0..frames {
        index.extend((0..frame_len).map(|k| (f * step + k) as i64));
    }
    let index = c.constant(
        "frame_index",
        Tensor::from_i64(vec![frames, frame_len], &index),
    );
    // [batch, frames, frame_length, parts]
    let framed = c.inner(
        "frames",
        Op::Gather(Gather { axis: 1 }),
        vec![Some(x), Some(index)],
    )?;
    let framed = match window {
        Some(w) => {
            let col = c.inner(
                "window_column",
                Op::Reshape(Reshape {
                    shape: vec![frame_len, 1],
                }),
                vec![Some(w)],
            )?;
            c.inner(
                "windowed",
                Op::Binary(BinaryOp::Mul),
                vec![Some(framed), Some(col)],
            )?
        }
        None => framed,
    };
    let onesided = c.attrs.flag("onesided", true)?;
    let (last, input) = transform(c, framed, 2, false, onesided)?;
    c.emit1(last, vec![Some(input)])
}

/// An intermediate node `<node>/d<n>`.
fn op(c: &mut NodeCtx<'_>, tag: &mut usize, op: Op, ins: &[ValueId]) -> Result<ValueId, IrError> {
    *tag += 1;
    c.inner(
        &format!("d{tag}"),
        op,
        ins.iter().map(|&v| Some(v)).collect(),
    )
}
