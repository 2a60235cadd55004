//! Upsampling (`nn.Upsample`, `F.interpolate`): `upsample_nearest*`,
//! `_upsample_nearest_exact*`, `upsample_bilinear2d`, `upsample_linear1d`,
//! `upsample_trilinear3d`, `upsample_bicubic2d`, as IR `Resize`.
//!
//! torch's coordinate rules in ONNX terms: nearest is `asymmetric` + `floor`,
//! nearest-exact is `half_pixel` + round half up, (bi/tri)linear and bicubic are
//! `pytorch_half_pixel` (or `align_corners`), bicubic with `a = -0.75`. Both overloads
//! are read: output sizes, or scale factors (`.vec`, or per-axis `scales_h`...); a
//! given scale factor is what torch maps coordinates with, so it becomes the IR scale.

use super::call::Call;
use super::{op, AtenOp};
use crate::value::Val;
use neoc_ir::ops::resize::{CoordMode, NearestMode, ResizeMode};
use neoc_ir::ops::Resize;
use neoc_ir::{IrError, Op};

pub(crate) const OPS: &[AtenOp] = &[
    op(
        "upsample_nearest1d",
        nearest,
        "Resize nearest (asymmetric, floor)",
    ),
    op(
        "upsample_nearest2d",
        nearest,
        "Resize nearest (asymmetric, floor)",
    ),
    op(
        "upsample_nearest3d",
        nearest,
        "Resize nearest (asymmetric, floor)",
    ),
    op(
        "_upsample_nearest_exact1d",
        nearest_exact,
        "Resize nearest (half_pixel)",
    ),
    op(
        "_upsample_nearest_exact2d",
        nearest_exact,
        "Resize nearest (half_pixel)",
    ),
    op(
        "_upsample_nearest_exact3d",
        nearest_exact,
        "Resize nearest (half_pixel)",
    ),
    op("upsample_linear1d", linear, "Resize linear; align_corners"),
    op(
        "upsample_bilinear2d",
        linear,
        "Resize linear; align_corners",
    ),
    op(
        "upsample_trilinear3d",
        linear,
        "Resize linear; align_corners",
    ),
    op(
        "upsample_bicubic2d",
        bicubic,
        "Resize cubic (a = -0.75); align_corners",
    ),
];

/// Output sizes and per-axis scales of the spatial dims. `scale_at` is where the
/// scale factors start: one list (`.vec`) or one float per axis.
fn targets(c: &Call<'_>, k: usize, scale_at: usize) -> Result<(Vec<u64>, Vec<f64>), IrError> {
    let x = c.tensor(0, "input").or_else(|_| c.tensor(0, "self"))?;
    let d = c.dims(x)?;
    if d.len() != k + 2 {
        return Err(c.err(format!("expects a {}-D input, got {d:?}", k + 2)));
    }
    let spatial = &d[2..];
    let factors: Option<Vec<f64>> = match c.get(scale_at, "scale_factors") {
        Some(Val::List(items)) => Some(
            items
                .iter()
                .map(|v| match v {
                    Val::Float(f) => Ok(*f),
                    Val::Int(i) => Ok(*i as f64),
                    other => Err(c.attr_err(format!("a scale factor is {}", other.kind()))),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => {
            let names = ["scales_d", "scales_h", "scales_w"];
            let per: Vec<Option<f64>> = (0..k)
                .map(|j| c.opt_float(scale_at + j, names[3 - k + j]))
                .collect::<Result<_, _>>()?;
            per.iter()
                .all(Option::is_some)
                .then(|| per.into_iter().flatten().collect())
        }
    };
    let sizes = c.opt_ints(1, "output_size")?.filter(|s| !s.is_empty());
    let (out, scales): (Vec<u64>, Vec<f64>) = match (sizes, factors) {
        (Some(s), f) => {
            let out: Vec<u64> = s
                .iter()
                .map(|&v| u64::try_from(v).map_err(|_| c.attr_err("a negative output size")))
                .collect::<Result<_, _>>()?;
            let scales = match f {
                Some(f) if f.len() == k => f,
                _ => out
                    .iter()
                    .zip(spatial)
                    .map(|(&o, &n)| o as f64 / n as f64)
                    .collect(),
            };
            (out, scales)
        }
        (None, Some(f)) if f.len() == k => {
            let out = f
                .iter()
                .zip(spatial)
                .map(|(&s, &n)| (n as f64 * s).floor() as u64)
                .collect();
            (out, f)
        }
        _ => return Err(c.attr_err("neither output_size nor scale factors are given")),
    };
    if out.len() != k || out.contains(&0) || scales.iter().any(|s| s.is_nan() || *s <= 0.0) {
        return Err(c.attr_err(format!(
            "output size {out:?} / scales {scales:?} are invalid"
        )));
    }
    let mut sizes = d[..2].to_vec();
    sizes.extend(out);
    if neoc_ir::shape::checked_elements(&sizes).is_none() {
        return Err(c.err(format!("output shape {sizes:?} is too large")));
    }
    let mut all = vec![1.0, 1.0];
    all.extend(scales);
    Ok((sizes, all))
}

fn rank_of(c: &Call<'_>) -> usize {
    ["1d", "2d", "3d"]
        .iter()
        .position(|s| c.op.ends_with(s))
        .map_or(2, |i| i + 1)
}

fn resize(
    c: &mut Call<'_>,
    mode: ResizeMode,
    coord: CoordMode,
    scale_at: usize,
) -> Result<Vec<Val>, IrError> {
    let k = rank_of(c);
    let (sizes, scales) = targets(c, k, scale_at)?;
    let x = c.tensor(0, "input").or_else(|_| c.tensor(0, "self"))?;
    let r = Resize {
        sizes,
        scales,
        roi: Vec::new(),
        mode,
        coord,
        antialias: false,
        exclude_outside: false,
        extrapolation: 0.0,
    };
    Ok(vec![Val::Tensor(c.add(Op::Resize(r), &[x])?)])
}

/// `upsample_nearest2d(input, output_size, scales_h, scales_w)` or `.vec(input,
/// output_size, scale_factors)`.
fn nearest(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    resize(
        c,
        ResizeMode::Nearest(NearestMode::Floor),
        CoordMode::Asymmetric,
        2,
    )
}

fn nearest_exact(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    resize(
        c,
        ResizeMode::Nearest(NearestMode::RoundPreferCeil),
        CoordMode::HalfPixel,
        2,
    )
}

/// `upsample_bilinear2d(input, output_size, align_corners, scales_h, scales_w)` or
/// `.vec(input, output_size, align_corners, scale_factors)`.
fn interp(c: &mut Call<'_>, mode: ResizeMode) -> Result<Vec<Val>, IrError> {
    let coord = if c.bool(2, "align_corners", false)? {
        CoordMode::AlignCorners
    } else {
        CoordMode::PytorchHalfPixel
    };
    resize(c, mode, coord, 3)
}

fn linear(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    interp(c, ResizeMode::Linear)
}

fn bicubic(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    interp(c, ResizeMode::Cubic { a: -0.75 })
}
