//! ReverseSequence (10+): reverses the first `sequence_lens[b]` time steps of each batch
//! entry.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__ReverseSequence.html>. `time_axis` and
//! `batch_axis` are 0 and 1 in either order (defaults 0 and 1), so the two leading dims
//! flatten to one: `x` becomes `[d0·d1, rest]`, one Gather along axis 0 with a constant
//! index table (built from `sequence_lens`, which must be a constant) picks, for batch
//! `b` and step `t`, the row of step `len[b] − 1 − t` when `t < len[b]` and of `t`
//! otherwise, and a Reshape restores the shape. The table has only `d0·d1` entries.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{Gather, Reshape};
use neoc_ir::{Op, Tensor};

pub(crate) const SPECS: &[OpSpec] = &[spec(
    "ReverseSequence",
    10,
    22,
    reverse_sequence,
    "sequence_lens constant; one Gather of the flattened batch and time dims",
)];

fn reverse_sequence(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let time_axis = c.attrs.int("time_axis", 0)?;
    let batch_axis = c.attrs.int("batch_axis", 1)?;
    let time_first = match (time_axis, batch_axis) {
        (0, 1) => true,
        (1, 0) => false,
        _ => {
            return Err(c.attr_error(format!(
                "time_axis {time_axis} and batch_axis {batch_axis} must be 0 and 1"
            )))
        }
    };
    let (d0, d1) = match xd[..] {
        [d0, d1, ..] => (d0, d1),
        _ => return Err(c.shape_error(format!("input {xd:?} needs rank 2 or more"))),
    };
    let (batch, time) = if time_first { (d1, d0) } else { (d0, d1) };
    let lens = c
        .const_ints(1, "sequence_lens")?
        .ok_or_else(|| c.shape_error("input 1 (sequence_lens) is required"))?;
    if lens.len() as u64 != batch {
        return Err(c.shape_error(format!(
            "sequence_lens has {} values for a batch of {batch}",
            lens.len()
        )));
    }
    if let Some(l) = lens.iter().find(|&&l| l < 0 || l as u64 > time) {
        return Err(c.shape_error(format!(
            "sequence length {l} is outside 0..={time} (the time dim)"
        )));
    }
    let rows = c.built_elements(&[d0, d1], 8)?;
    let mut index = Vec::with_capacity(rows as usize);
    for i0 in 0..d0 {
        for i1 in 0..d1 {
            let (b, t) = if time_first { (i1, i0) } else { (i0, i1) };
            let len = lens.get(b as usize).copied().unwrap_or(0) as u64;
            let src = if t < len { len - 1 - t } else { t };
            let (s0, s1) = if time_first { (src, b) } else { (b, src) };
            index.push((s0 * d1 + s1) as i64);
        }
    }
    let mut flat = vec![rows];
    flat.extend_from_slice(&xd[2..]);
    let rows_x = c.inner("rows", Op::Reshape(Reshape { shape: flat }), vec![Some(x)])?;
    let index = c.constant("index", Tensor::from_i64(vec![rows], &index));
    let picked = c.inner(
        "reversed",
        Op::Gather(Gather { axis: 0 }),
        vec![Some(rows_x), Some(index)],
    )?;
    c.emit1(Op::Reshape(Reshape { shape: xd }), vec![Some(picked)])
}
