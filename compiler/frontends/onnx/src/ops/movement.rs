//! Shape and data-movement ops: Flatten, Reshape, Squeeze, Unsqueeze, Transpose,
//! Concat, Split, Slice, Gather, Shape, Identity, Dropout.
//!
//! Everything that only renames dims (Flatten, Squeeze, Unsqueeze, Reshape with `0` /
//! `-1`) becomes an IR `Reshape` to a fully resolved static shape. Opset notes:
//! - Reshape takes its shape as an input (opset 5+), which must be a constant after
//!   folding (exporters' `Shape → Gather → Unsqueeze → Concat` chains fold on import);
//!   `allowzero` exists from 14.
//! - Squeeze/Unsqueeze take `axes` as an attribute before 13 and as an input (which must
//!   be constant) from 13; negative axes from 11. Squeeze without axes drops every 1.
//! - Slice takes `starts`/`ends`/`axes` attributes before 10 and constant inputs (plus
//!   `steps`) from 10; starts/ends are clamped as the spec says, negative steps allowed.
//! - Split takes `split` as an attribute before 13, as an input from 13, and may give
//!   `num_outputs` from 18; it becomes one IR Slice per output.
//! - Shape has `start`/`end` from 15 (negative, clamped).
//! - Dropout is an Identity with an all-true mask output: in inference `ratio` is
//!   ignored; `training_mode = true` (12+, a constant) is accepted only with a constant
//!   `ratio` of 0, which drops nothing (any other ratio draws a random mask).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::movement::resolve_reshape;
use neoc_ir::ops::{Concat, Gather, Reshape, Shape, Slice, SliceAxis, Transpose};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("Flatten", 7, 22, flatten, "Reshape to 2-D; negative axis"),
    spec(
        "Reshape",
        7,
        22,
        reshape,
        "shape input must be constant; allowzero",
    ),
    spec("Unsqueeze", 7, 12, unsqueeze, "axes attribute; Reshape"),
    spec(
        "Unsqueeze",
        13,
        22,
        unsqueeze,
        "axes input (constant); Reshape",
    ),
    spec("Squeeze", 7, 12, squeeze, "axes attribute; Reshape"),
    spec("Squeeze", 13, 22, squeeze, "axes input (constant); Reshape"),
    spec("Transpose", 7, 22, transpose, "default perm reverses"),
    spec("Concat", 7, 22, concat, "negative axis"),
    spec("Split", 7, 22, split, "one Slice per output"),
    spec("Slice", 7, 9, slice, "starts/ends/axes attributes"),
    spec(
        "Slice",
        10,
        22,
        slice,
        "constant starts/ends/axes/steps inputs",
    ),
    spec("Gather", 7, 22, gather, "indices constant or not"),
    spec(
        "GatherElements",
        11,
        22,
        gather_elements,
        "negative indices wrap; out-of-range ones are clamped",
    ),
    spec("Shape", 7, 22, shape, "start/end from 15; folded"),
    spec(
        "Size",
        7,
        22,
        size,
        "element count; folded (shapes are static)",
    ),
    spec("Identity", 7, 22, identity, ""),
    spec(
        "Dropout",
        7,
        22,
        dropout,
        "Identity; the mask output is all true",
    ),
];

fn reshape_to(c: &mut NodeCtx<'_>, x: ValueId, shape: Vec<u64>) -> Built {
    c.emit1(Op::Reshape(Reshape { shape }), vec![Some(x)])
}

fn flatten(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let r = d.len() as i64;
    let axis = c.attrs.int("axis", 1)?;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(c.attr_error(format!("axis {axis} is out of range for rank {r}")));
    }
    let a = a as usize;
    let shape = vec![d[..a].iter().product(), d[a..].iter().product()];
    reshape_to(c, x, shape)
}

fn reshape(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let requested = match c.const_ints(1, "shape")? {
        Some(s) => s,
        None => match c.attrs.ints("shape")? {
            Some(s) => s.to_vec(),
            None => return Err(c.shape_error("the target shape (input 1) is missing")),
        },
    };
    let allow_zero = c.opset >= 14 && c.attrs.flag("allowzero", false)?;
    let shape = resolve_reshape(&d, &requested, allow_zero).map_err(|e| c.op_error(e))?;
    reshape_to(c, x, shape)
}

/// `axes` from the attribute (before 13) or the constant input 1 (from 13).
fn axes(c: &NodeCtx<'_>) -> Result<Option<Vec<i64>>, IrError> {
    if c.opset < 13 {
        Ok(c.attrs.ints("axes")?.map(<[i64]>::to_vec))
    } else {
        c.const_ints(1, "axes")
    }
}

/// Normalises `axes` against `rank`, refusing duplicates.
fn norm_axes(c: &NodeCtx<'_>, axes: &[i64], rank: usize) -> Result<Vec<usize>, IrError> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = c.axis(a, rank)?;
        if out.contains(&n) {
            return Err(c.attr_error(format!("axes {axes:?} repeat an axis")));
        }
        out.push(n);
    }
    Ok(out)
}

fn unsqueeze(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let Some(axes) = axes(c)? else {
        return Err(c.attr_error("axes are required"));
    };
    let rank = d.len() + axes.len();
    let axes = norm_axes(c, &axes, rank)?;
    let mut rest = d.iter();
    let shape = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                rest.next().copied().unwrap_or(1)
            }
        })
        .collect();
    reshape_to(c, x, shape)
}

fn squeeze(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let shape = match axes(c)? {
        None => d.iter().copied().filter(|&n| n != 1).collect(),
        Some(axes) => {
            let axes = norm_axes(c, &axes, d.len())?;
            if let Some(&a) = axes.iter().find(|&&a| d[a] != 1) {
                return Err(c.shape_error(format!(
                    "cannot squeeze axis {a} of shape {d:?}: its size is {}, not 1",
                    d[a]
                )));
            }
            d.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &n)| n)
                .collect()
        }
    };
    reshape_to(c, x, shape)
}

fn transpose(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.ty(x).rank();
    let perm = match c.attrs.ints("perm")? {
        None => (0..rank).rev().collect(),
        Some(p) => p
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .map_err(|_| c.attr_error(format!("perm {p:?} has a negative entry")))
            })
            .collect::<Result<Vec<usize>, IrError>>()?,
    };
    c.emit1(Op::Transpose(Transpose { perm }), vec![Some(x)])
}

fn concat(c: &mut NodeCtx<'_>) -> Built {
    let xs: Vec<Option<ValueId>> = c.inputs().iter().filter(|v| v.is_some()).copied().collect();
    let Some(Some(first)) = xs.first().copied() else {
        return Err(c.shape_error("needs at least one input"));
    };
    let axis = c
        .attrs
        .opt_int("axis")?
        .ok_or_else(|| c.attr_error("attribute \"axis\" is required"))?;
    let axis = c.axis(axis, c.ty(first).rank())?;
    c.emit1(Op::Concat(Concat { axis }), xs)
}

/// One `SliceAxis` clamped as the ONNX Slice spec says.
fn clamp_axis(axis: usize, dim: u64, start: i64, end: i64, step: i64) -> SliceAxis {
    let dim = dim as i64;
    let wrap = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
    let (start, end) = (wrap(start), wrap(end));
    let (start, end) = if step > 0 {
        (start.max(0).min(dim), end.max(0).min(dim))
    } else {
        (start.max(0).min(dim - 1), end.max(-1).min(dim - 1))
    };
    SliceAxis {
        axis,
        start,
        end,
        step,
    }
}

fn slice(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let (starts, ends, axes, steps) = if c.opset < 10 {
        let req = |name: &str| -> Result<Vec<i64>, IrError> {
            c.attrs
                .ints(name)?
                .map(<[i64]>::to_vec)
                .ok_or_else(|| c.attr_error(format!("attribute \"{name}\" is required")))
        };
        let axes = c.attrs.ints("axes")?.map(<[i64]>::to_vec);
        (req("starts")?, req("ends")?, axes, None)
    } else {
        let req = |i: usize, name: &str| -> Result<Vec<i64>, IrError> {
            c.const_ints(i, name)?
                .ok_or_else(|| c.shape_error(format!("input {i} ({name}) is required")))
        };
        (
            req(1, "starts")?,
            req(2, "ends")?,
            c.const_ints(3, "axes")?,
            c.const_ints(4, "steps")?,
        )
    };
    let n = starts.len();
    let axes = axes.unwrap_or_else(|| (0..n as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; n]);
    if ends.len() != n || axes.len() != n || steps.len() != n {
        return Err(c.attr_error(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        )));
    }
    let axes = norm_axes(c, &axes, d.len())?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if steps[i] == 0 {
            return Err(c.attr_error("steps must not be 0"));
        }
        out.push(clamp_axis(
            axes[i], d[axes[i]], starts[i], ends[i], steps[i],
        ));
    }
    c.emit1(Op::Slice(Slice { axes: out }), vec![Some(x)])
}

fn split(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let axis = c.axis(c.attrs.int("axis", 0)?, d.len())?;
    let n_out = c.output_count();
    let sizes = if c.opset < 13 {
        c.attrs.ints("split")?.map(<[i64]>::to_vec)
    } else {
        c.const_ints(1, "split")?
    };
    let len = d[axis];
    let sizes: Vec<u64> = match sizes {
        Some(s) => s
            .iter()
            .map(|&v| {
                u64::try_from(v).map_err(|_| c.attr_error(format!("split {s:?} is negative")))
            })
            .collect::<Result<_, _>>()?,
        None => {
            let parts = match c.attrs.opt_int("num_outputs")? {
                Some(k) if k > 0 => k as u64,
                Some(k) => return Err(c.attr_error(format!("num_outputs {k} must be positive"))),
                None => n_out as u64,
            };
            if c.opset < 18 && !len.is_multiple_of(parts.max(1)) {
                return Err(c.shape_error(format!(
                    "axis length {len} does not split into {parts} equal parts"
                )));
            }
            // Equal parts; from opset 18 the last may be smaller.
            let part = len.div_ceil(parts.max(1));
            (0..parts)
                .map(|i| part.min(len.saturating_sub(i * part)))
                .collect()
        }
    };
    let total = sizes.iter().try_fold(0u64, |a, &s| a.checked_add(s));
    if total != Some(len) || sizes.len() != n_out {
        return Err(c.shape_error(format!(
            "split sizes {sizes:?} must sum to the axis length {len} and give {n_out} outputs"
        )));
    }
    let mut outs = Vec::with_capacity(n_out);
    let mut start = 0u64;
    for (i, &s) in sizes.iter().enumerate() {
        let sl = SliceAxis {
            axis,
            start: start as i64,
            end: (start + s) as i64,
            step: 1,
        };
        outs.push(c.emit_output(i, Op::Slice(Slice { axes: vec![sl] }), vec![Some(x)])?);
        start += s;
    }
    Ok(outs)
}

fn gather(c: &mut NodeCtx<'_>) -> Built {
    let (data, idx) = (c.req(0)?, c.req(1)?);
    let axis = c.axis(c.attrs.int("axis", 0)?, c.ty(data).rank())?;
    c.emit1(Op::Gather(Gather { axis }), vec![Some(data), Some(idx)])
}

fn shape(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let r = c.ty(x).rank() as i64;
    let clamp = |v: i64| (if v < 0 { v.saturating_add(r) } else { v }).max(0).min(r) as usize;
    let (start, end) = if c.opset >= 15 {
        (
            clamp(c.attrs.int("start", 0)?),
            clamp(c.attrs.int("end", r)?),
        )
    } else {
        (0, r as usize)
    };
    let end = end.max(start);
    c.emit1(Op::Shape(Shape { start, end }), vec![Some(x)])
}

fn size(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let n: u64 = c.dims(x)?.iter().product();
    let n = i64::try_from(n).map_err(|_| c.shape_error("element count overflows int64"))?;
    let name = c.output_name(0);
    Ok(vec![c
        .graph
        .add_const(name, neoc_ir::Tensor::from_i64(vec![], &[n]))])
}

fn identity(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    c.emit1(Op::Identity, vec![Some(x)])
}

fn dropout(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    if c.opset >= 12 && c.input(2).is_some() {
        let training = c.const_scalar(2, "training_mode")?;
        // Training with ratio 0 drops nothing: the same as inference. Any other ratio
        // draws a random mask.
        if training.is_some_and(|t| t != 0.0) {
            let ratio = c.const_scalar(1, "ratio")?.unwrap_or(0.5);
            if ratio != 0.0 {
                return Err(c.shape_error(format!(
                    "training_mode = true with ratio {ratio} draws a random mask, which is \
                     not supported: neoc compiles deterministic graphs (training_mode = \
                     false, or ratio 0)"
                )));
            }
        }
    }
    let y = c.emit1(Op::Identity, vec![Some(x)])?;
    // The mask (output 1, opset 12+ as bool) keeps everything in inference.
    if c.output_count() > 1 {
        let d = c.dims(x)?;
        let n = c.built_elements(&d, 1)?;
        let mask = neoc_ir::Tensor::from_f64_as(neoc_ir::DType::Bool, d, &vec![1.0; n as usize]);
        let name = c.output_name(1);
        let m = c.graph.add_const(name, mask);
        return Ok(vec![y[0], m]);
    }
    Ok(y)
}

fn gather_elements(c: &mut NodeCtx<'_>) -> Built {
    let (data, idx) = (c.req(0)?, c.req(1)?);
    let rank = c.dims(data)?.len();
    let axis = c.axis(c.attrs.int("axis", 0)?, rank)?;
    c.emit1(
        Op::GatherElements(neoc_ir::ops::GatherElements { axis }),
        vec![Some(data), Some(idx)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_clamps_like_the_spec() {
        // x[1:1000] on a dim of 5 → 1..5
        let a = clamp_axis(0, 5, 1, 1000, 1);
        assert_eq!((a.start, a.end, a.len()), (1, 5, 4));
        // x[-1:-1000:-1] → 4 down to 0
        let a = clamp_axis(0, 5, -1, i64::MIN, -1);
        assert_eq!((a.start, a.end, a.len()), (4, -1, 5));
        // x[::-2] with INT64_MAX start
        let a = clamp_axis(0, 5, i64::MAX, i64::MIN, -2);
        assert_eq!((a.start, a.end, a.len()), (4, -1, 3));
        // empty dim, negative step: no panic, nothing selected
        let a = clamp_axis(0, 0, 0, -1, -1);
        assert_eq!(a.len(), 0);
    }
}
