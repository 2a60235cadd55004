//! DepthToSpace, SpaceToDepth and Tile: element rearrangements imported as the IR's
//! Reshape, Transpose and Expand, so they need no kernels of their own (and fold away
//! on constants).
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__DepthToSpace.html>,
//! <https://onnx.ai/onnx/operators/onnx__SpaceToDepth.html>,
//! <https://onnx.ai/onnx/operators/onnx__Tile.html>. Notes:
//! - DepthToSpace `mode` DCR (default) and CRD (opset 11+); 4-D input; C divisible by
//!   blocksize², H and W by blocksize for SpaceToDepth.
//! - Tile's `repeats` input must be constant (after folding): one non-negative count per
//!   axis. Each axis of size d repeated r times is the [r, d] broadcast of [1, d].

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{Expand, Reshape, Transpose};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "DepthToSpace",
        7,
        10,
        depth_to_space,
        "DCR; Reshape, Transpose, Reshape",
    ),
    spec(
        "DepthToSpace",
        11,
        22,
        depth_to_space,
        "DCR or CRD; Reshape, Transpose, Reshape",
    ),
    spec(
        "SpaceToDepth",
        7,
        22,
        space_to_depth,
        "Reshape, Transpose, Reshape",
    ),
    spec(
        "Tile",
        7,
        22,
        tile,
        "repeats must be constant; Reshape, Expand, Reshape",
    ),
];

/// The 4-D input and `blocksize`.
fn block_input(c: &NodeCtx<'_>) -> Result<(ValueId, [u64; 4], u64), IrError> {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let Ok(d) = <[u64; 4]>::try_from(d.as_slice()) else {
        return Err(c.shape_error(format!("needs a 4-D input, got {d:?}")));
    };
    let b = c.attrs.int("blocksize", 0)?;
    if b < 1 {
        return Err(c.attr_error(format!("attribute `blocksize` must be at least 1, got {b}")));
    }
    Ok((x, d, b as u64))
}

/// Reshape → Transpose → Reshape.
fn rearrange(
    c: &mut NodeCtx<'_>,
    x: ValueId,
    split: Vec<u64>,
    perm: Vec<usize>,
    out: Vec<u64>,
) -> Built {
    let r = c.inner(
        "split",
        Op::Reshape(Reshape { shape: split }),
        vec![Some(x)],
    )?;
    let t = c.inner("permute", Op::Transpose(Transpose { perm }), vec![Some(r)])?;
    c.emit1(Op::Reshape(Reshape { shape: out }), vec![Some(t)])
}

fn depth_to_space(c: &mut NodeCtx<'_>) -> Built {
    let (x, [n, ch, h, w], b) = block_input(c)?;
    if ch % (b * b) != 0 {
        return Err(c.shape_error(format!(
            "{ch} channels are not divisible by blocksize² = {}",
            b * b
        )));
    }
    let oc = ch / (b * b);
    let crd = c.opset >= 11 && c.attrs.string("mode", "DCR")? == "CRD";
    let (split, perm) = if crd {
        (vec![n, oc, b, b, h, w], vec![0, 1, 4, 2, 5, 3])
    } else {
        (vec![n, b, b, oc, h, w], vec![0, 3, 4, 1, 5, 2])
    };
    rearrange(c, x, split, perm, vec![n, oc, h * b, w * b])
}

fn space_to_depth(c: &mut NodeCtx<'_>) -> Built {
    let (x, [n, ch, h, w], b) = block_input(c)?;
    if h % b != 0 || w % b != 0 {
        return Err(c.shape_error(format!("{h}x{w} is not divisible by blocksize {b}")));
    }
    let split = vec![n, ch, h / b, b, w / b, b];
    rearrange(
        c,
        x,
        split,
        vec![0, 3, 5, 1, 2, 4],
        vec![n, ch * b * b, h / b, w / b],
    )
}

fn tile(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let reps = c
        .const_ints(1, "repeats")?
        .ok_or_else(|| c.not_constant("input 1 (repeats)"))?;
    if reps.len() != d.len() || reps.iter().any(|&r| r < 0) {
        return Err(c.shape_error(format!(
            "repeats {reps:?} must be one non-negative count per axis of {d:?}"
        )));
    }
    let interleaved: Vec<u64> = d.iter().flat_map(|&n| [1, n]).collect();
    let spread: Vec<u64> = d
        .iter()
        .zip(&reps)
        .flat_map(|(&n, &r)| [r as u64, n])
        .collect();
    let out: Vec<u64> = d.iter().zip(&reps).map(|(&n, &r)| n * r as u64).collect();
    let r = c.inner(
        "interleave",
        Op::Reshape(Reshape { shape: interleaved }),
        vec![Some(x)],
    )?;
    let e = c.inner(
        "repeat",
        Op::Expand(Expand { shape: spread }),
        vec![Some(r)],
    )?;
    c.emit1(Op::Reshape(Reshape { shape: out }), vec![Some(e)])
}
