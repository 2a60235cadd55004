//! Pad.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Pad.html>. Opset notes:
//! - 2–10: `pads` (required), `value` (default 0) and `mode` are attributes.
//! - 11+: `pads` is input 1 and `constant_value` the optional input 2; both must be
//!   constants after folding. `mode` stays an attribute.
//! - 18+: the optional input 3 `axes` (constant, negative allowed) names the axes that
//!   `pads` covers (`2 * len(axes)` entries); the other axes are not padded.
//! - 19+: `mode = "wrap"` (periodic continuation).
//!
//! Everything becomes one IR `Pad` with a begin and an end pad for every axis.
//!
//! CenterCropPad (18+, `shape` a constant input, optional `axes` attribute) is the same
//! `Pad` with zero fill: an axis longer than its target is cropped around the centre
//! (negative pads, the odd element taken from the end), a shorter one padded around it
//! (the odd element added at the end).

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{Pad, PadMode};
use neoc_ir::Op;

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "Pad",
        7,
        10,
        pad,
        "pads/value/mode attributes; constant, reflect, edge; negative pads crop",
    ),
    spec(
        "Pad",
        11,
        17,
        pad,
        "pads and constant_value inputs, must be constants",
    ),
    spec(
        "Pad",
        18,
        22,
        pad,
        "optional axes input (constant); wrap mode from 19",
    ),
    spec(
        "CenterCropPad",
        18,
        22,
        center_crop_pad,
        "shape constant; one Pad (negative pads crop)",
    ),
];

fn center_crop_pad(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let xd = c.dims(x)?;
    let rank = xd.len();
    let Some(shape) = c.const_ints(1, "shape")? else {
        return Err(c.not_constant("shape"));
    };
    let axes: Vec<usize> = match c.attrs.ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| c.axis(a, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if axes.len() != shape.len() {
        return Err(c.shape_error(format!(
            "shape {shape:?} does not match the {} axes",
            axes.len()
        )));
    }
    let mut pads = vec![0i64; 2 * rank];
    for (&a, &target) in axes.iter().zip(&shape) {
        let dim = xd[a] as i64;
        if target < 0 {
            return Err(c.shape_error(format!("shape {shape:?} has a negative entry")));
        }
        let d = target - dim;
        // Growing: half before (rounded down), the rest after; shrinking likewise, the
        // crop taking its odd element from the end.
        let before = if d >= 0 { d / 2 } else { -((-d) / 2) };
        pads[a] = before;
        pads[rank + a] = d - before;
    }
    let op = Op::Pad(Pad {
        pads,
        mode: PadMode::Constant,
        value: 0.0,
    });
    c.emit1(op, vec![Some(x)])
}

fn pad(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let rank = c.ty(x).rank();
    let mode_name = c.attrs.string("mode", "constant")?;
    let mode = match PadMode::from_name(&mode_name) {
        Some(PadMode::Wrap) if c.opset < 19 => None,
        m => m,
    }
    .ok_or_else(|| {
        c.attr_error(format!(
            "mode \"{mode_name}\" is not supported at opset {} (constant, reflect, edge; wrap from 19)",
            c.opset
        ))
    })?;
    let (given, value, axes) = if c.opset < 11 {
        let pads = c
            .attrs
            .ints("pads")?
            .map(<[i64]>::to_vec)
            .ok_or_else(|| c.attr_error("attribute \"pads\" is required"))?;
        (pads, c.attrs.float("value", 0.0)?, None)
    } else {
        let pads = c
            .const_ints(1, "pads")?
            .ok_or_else(|| c.shape_error("input 1 (pads) is required"))?;
        let value = c.const_scalar(2, "constant_value")?.unwrap_or(0.0) as f32;
        let axes = if c.opset >= 18 {
            c.const_ints(3, "axes")?
        } else {
            None
        };
        (pads, value, axes)
    };
    let axes: Vec<usize> = match axes {
        None => (0..rank).collect(),
        Some(a) => {
            let mut out = Vec::with_capacity(a.len());
            for &ax in &a {
                let n = c.axis(ax, rank)?;
                if out.contains(&n) {
                    return Err(c.attr_error(format!("axes {a:?} repeat an axis")));
                }
                out.push(n);
            }
            out
        }
    };
    if given.len() != 2 * axes.len() {
        return Err(c.attr_error(format!(
            "pads {given:?} must have {} entries (a begin and an end pad for each of {} axes)",
            2 * axes.len(),
            axes.len()
        )));
    }
    let mut pads = vec![0i64; 2 * rank];
    for (k, &a) in axes.iter().enumerate() {
        pads[a] = given[k];
        pads[rank + a] = given[axes.len() + k];
    }
    c.emit1(Op::Pad(Pad { pads, mode, value }), vec![Some(x)])
}
