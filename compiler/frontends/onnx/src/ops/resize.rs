//! Resampling: Resize (opsets 11–22) onto the IR's Resize with static output shape, and
//! GridSample (16–22; `bilinear`/`bicubic` of 16–19 are `linear`/`cubic`, N-d from 20).
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Resize.html>. Notes:
//! - `roi`, `scales` and `sizes` must be constants (after folding); exactly one of
//!   scales/sizes is used (an empty tensor counts as absent). With scales the output is
//!   `floor(scale · input)`; with sizes the coordinate scale is `size / input`.
//! - Opset 18+: `axes` (the listed axes get scales/sizes/roi; the others stay),
//!   `antialias`, and `keep_aspect_ratio_policy` (`not_larger`/`not_smaller` use one
//!   scale, the min/max over the axes, and round the sizes half up).
//! - Opset 19+ adds the `half_pixel_symmetric` coordinate mode.
//! - Resolution follows the ONNX reference implementation (`_interpolate_nd`).
//!
//! Upsample (7–9, <https://onnx.ai/onnx/operators/onnx__Upsample.html>; deprecated by
//! Resize) is the same IR Resize: output `floor(scale · input)` per axis (scales an
//! attribute before 9, a constant input from 9), `asymmetric` coordinates, `nearest`
//! rounding down (the reference repeats each element `scale` times) or `linear`, as
//! onnxruntime runs it.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::resize::{CoordMode, NearestMode, ResizeMode};
use neoc_ir::ops::{GridMode, GridPadding, GridSample, Resize};
use neoc_ir::{IrError, Op};

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "Resize",
        11,
        17,
        resize,
        "nearest/linear/cubic, every coordinate mode; roi, scales, sizes constant",
    ),
    spec(
        "Resize",
        18,
        22,
        resize,
        "as 11-17, plus axes, antialias, keep_aspect_ratio_policy",
    ),
    spec(
        "Upsample",
        7,
        9,
        upsample,
        "Resize with asymmetric coordinates (nearest floor or linear); scales constant",
    ),
    spec(
        "GridSample",
        16,
        22,
        grid_sample,
        "nearest/linear/cubic, zeros/border/reflection padding; N-d from 20",
    ),
];

fn grid_sample(c: &mut NodeCtx<'_>) -> Built {
    let (x, grid) = (c.req(0)?, c.req(1)?);
    let mode = match c
        .attrs
        .string("mode", if c.opset < 20 { "bilinear" } else { "linear" })?
        .as_str()
    {
        "nearest" => GridMode::Nearest,
        "bilinear" | "linear" => GridMode::Linear,
        "bicubic" | "cubic" => GridMode::Cubic,
        other => return Err(c.attr_error(format!("unknown mode \"{other}\""))),
    };
    let padding = match c.attrs.string("padding_mode", "zeros")?.as_str() {
        "zeros" => GridPadding::Zeros,
        "border" => GridPadding::Border,
        "reflection" => GridPadding::Reflection,
        other => return Err(c.attr_error(format!("unknown padding_mode \"{other}\""))),
    };
    if c.opset < 20 && c.dims(x)?.len() != 4 {
        return Err(c.shape_error("GridSample before opset 20 takes a 4-D input"));
    }
    let op = Op::GridSample(GridSample {
        mode,
        padding,
        align_corners: c.attrs.flag("align_corners", false)?,
    });
    c.emit1(op, vec![Some(x), Some(grid)])
}

/// Input `i` as floats, `None` when absent or empty.
fn const_floats(c: &NodeCtx<'_>, i: usize, what: &str) -> Result<Option<Vec<f64>>, IrError> {
    if c.input(i).is_none() {
        return Ok(None);
    }
    match c.const_input(i) {
        Some(t) if t.num_elements() == 0 => Ok(None),
        Some(t) => Ok(Some(t.to_f64_vec())),
        None => Err(c.not_constant(format!("{what} (input {i})"))),
    }
}

/// The output dims `floor(scale · input)`.
fn scaled_sizes(dims: &[u64], scales: &[f64]) -> Vec<u64> {
    dims.iter()
        .zip(scales)
        .map(|(&n, &s)| (s * n as f64) as u64)
        .collect()
}

fn upsample(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let mode = match c.attrs.string("mode", "nearest")?.as_str() {
        "nearest" => ResizeMode::Nearest(NearestMode::Floor),
        "linear" | "bilinear" => ResizeMode::Linear,
        other => return Err(c.attr_error(format!("unknown mode `{other}`"))),
    };
    let scales: Vec<f64> = if c.opset < 9 {
        c.attrs
            .floats("scales")?
            .ok_or_else(|| c.attr_error("attribute \"scales\" is required"))?
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    } else {
        const_floats(c, 1, "scales")?
            .ok_or_else(|| c.shape_error("input 1 (scales) is required"))?
    };
    if scales.len() != d.len() || scales.iter().any(|s| !(s.is_finite() && *s >= 1.0)) {
        return Err(c.shape_error(format!(
            "scales {scales:?} must be one value of at least 1 per dim of {d:?}"
        )));
    }
    let r = Resize {
        sizes: scaled_sizes(&d, &scales),
        scales,
        roi: Vec::new(),
        mode,
        coord: CoordMode::Asymmetric,
        antialias: false,
        exclude_outside: false,
        extrapolation: 0.0,
    };
    c.emit1(Op::Resize(r), vec![Some(x)])
}

fn resize(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let rank = d.len();
    let name = |c: &NodeCtx<'_>, key: &str, default: &str| c.attrs.string(key, default);
    let mode = match name(c, "mode", "nearest")?.as_str() {
        "nearest" => {
            let m = name(c, "nearest_mode", "round_prefer_floor")?;
            ResizeMode::Nearest(
                NearestMode::from_name(&m)
                    .ok_or_else(|| c.attr_error(format!("unknown nearest_mode `{m}`")))?,
            )
        }
        "linear" => ResizeMode::Linear,
        "cubic" => ResizeMode::Cubic {
            a: c.attrs.float("cubic_coeff_a", -0.75)?,
        },
        other => return Err(c.attr_error(format!("unknown mode `{other}`"))),
    };
    let coord_name = name(c, "coordinate_transformation_mode", "half_pixel")?;
    let coord = CoordMode::from_name(&coord_name)
        .filter(|m| *m != CoordMode::HalfPixelSymmetric || c.opset >= 19)
        .ok_or_else(|| {
            c.attr_error(format!(
                "unknown coordinate_transformation_mode `{coord_name}`"
            ))
        })?;
    let antialias = c.opset >= 18 && c.attrs.int("antialias", 0)? != 0;
    if antialias && matches!(mode, ResizeMode::Nearest(_)) {
        return Err(c.attr_error("antialias is not defined for mode nearest"));
    }
    let axes: Vec<usize> = match c.attrs.ints("axes")? {
        Some(a) if c.opset >= 18 => a
            .iter()
            .map(|&ax| c.axis(ax, rank))
            .collect::<Result<_, _>>()?,
        _ => (0..rank).collect(),
    };
    let policy = if c.opset >= 18 {
        name(c, "keep_aspect_ratio_policy", "stretch")?
    } else {
        "stretch".to_string()
    };
    let scales_in = const_floats(c, 2, "scales")?;
    let sizes_in = match c.input(3) {
        Some(_) => c.const_ints(3, "sizes")?.filter(|s| !s.is_empty()),
        None => None,
    };
    let per_axis = |v: &[f64], what: &str| -> Result<(), IrError> {
        if v.len() == axes.len() {
            Ok(())
        } else {
            Err(c.shape_error(format!(
                "{what} has {} values for {} axes",
                v.len(),
                axes.len()
            )))
        }
    };
    let (sizes, scales): (Vec<u64>, Vec<f64>) = match (sizes_in, scales_in) {
        (Some(sz), _) => {
            let sz: Vec<f64> = sz.iter().map(|&v| v as f64).collect();
            per_axis(&sz, "sizes")?;
            let mut out: Vec<f64> = d.iter().map(|&n| n as f64).collect();
            for (&a, &v) in axes.iter().zip(&sz) {
                out[a] = v;
            }
            let mut scales: Vec<f64> = out.iter().zip(&d).map(|(&o, &n)| o / n as f64).collect();
            if policy != "stretch" {
                let chosen = axes.iter().map(|&a| scales[a]);
                let s = match policy.as_str() {
                    "not_larger" => chosen.fold(f64::INFINITY, f64::min),
                    "not_smaller" => chosen.fold(f64::NEG_INFINITY, f64::max),
                    other => {
                        return Err(
                            c.attr_error(format!("unknown keep_aspect_ratio_policy `{other}`"))
                        )
                    }
                };
                for a in 0..rank {
                    if axes.contains(&a) {
                        scales[a] = s;
                        out[a] = (s * d[a] as f64 + 0.5).trunc();
                    } else {
                        scales[a] = 1.0;
                    }
                }
            }
            (out.iter().map(|&v| v as u64).collect(), scales)
        }
        (None, Some(sc)) => {
            per_axis(&sc, "scales")?;
            let mut scales = vec![1.0; rank];
            for (&a, &v) in axes.iter().zip(&sc) {
                scales[a] = v;
            }
            (scaled_sizes(&d, &scales), scales)
        }
        (None, None) => return Err(c.shape_error("needs scales or sizes")),
    };
    let roi = if coord == CoordMode::TfCropAndResize {
        let given = const_floats(c, 1, "roi")?.unwrap_or_default();
        let mut roi: Vec<f32> = vec![0.0; rank];
        roi.extend(std::iter::repeat_n(1.0, rank));
        if given.len() == 2 * axes.len() {
            for (i, &a) in axes.iter().enumerate() {
                roi[a] = given[i] as f32;
                roi[rank + a] = given[axes.len() + i] as f32;
            }
        } else if !given.is_empty() {
            return Err(c.shape_error(format!(
                "roi has {} values for {} axes",
                given.len(),
                axes.len()
            )));
        }
        roi
    } else {
        Vec::new()
    };
    let r = Resize {
        sizes,
        scales,
        roi,
        mode,
        coord,
        antialias,
        exclude_outside: c.attrs.int("exclude_outside", 0)? != 0,
        extrapolation: c.attrs.float("extrapolation_value", 0.0)?,
    };
    c.emit1(Op::Resize(r), vec![Some(x)])
}
