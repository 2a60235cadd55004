//! `ResizeBilinear` and `ResizeNearestNeighbor` as the IR's Resize.
//!
//! TF's coordinate rules map onto the IR's (ONNX) modes exactly: `half_pixel_centers`
//! is `half_pixel` (nearest rounding half up, since TF computes
//! `floor((o + 0.5) · in / out)`), `align_corners` is `align_corners` (nearest rounds
//! half away from zero), neither is `asymmetric` (nearest floors). Resize works in any
//! layout, so an NCHW input stays NCHW.

use super::{op, Ctx, TfOp};
use crate::value::{Val, TO_NCHW};
use neoc_ir::ops::resize::{CoordMode, NearestMode, ResizeMode};
use neoc_ir::ops::Resize;
use neoc_ir::{IrError, Op};

pub(crate) const OPS: &[TfOp] = &[
    op(
        "ResizeBilinear",
        bilinear,
        "align_corners, half_pixel_centers",
    ),
    op(
        "ResizeNearestNeighbor",
        nearest,
        "align_corners, half_pixel_centers",
    ),
];

fn bilinear(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    resize(c, false)
}

fn nearest(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    resize(c, true)
}

fn resize(c: &mut Ctx<'_>, nearest: bool) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    if d.len() != 4 {
        return Err(c.err(format!("images must have rank 4 (NHWC), got {d:?}")));
    }
    let size = c.const_ints(1, "size")?;
    let [h, w] = size[..] else {
        return Err(c.err(format!("size must have 2 entries, got {size:?}")));
    };
    let (h, w) = match (u64::try_from(h), u64::try_from(w)) {
        (Ok(h), Ok(w)) if h > 0 && w > 0 && h <= 1 << 20 && w <= 1 << 20 => (h, w),
        _ => return Err(c.err(format!("size {size:?} must be positive"))),
    };
    let (align, half) = (
        c.attr_b("align_corners", false),
        c.attr_b("half_pixel_centers", false),
    );
    if align && half {
        return Err(c.attr_err("align_corners and half_pixel_centers cannot both be set"));
    }
    let coord = if align {
        CoordMode::AlignCorners
    } else if half {
        CoordMode::HalfPixel
    } else {
        CoordMode::Asymmetric
    };
    let mode = if !nearest {
        ResizeMode::Linear
    } else if align || half {
        ResizeMode::Nearest(NearestMode::RoundPreferCeil)
    } else {
        ResizeMode::Nearest(NearestMode::Floor)
    };
    let plain_sizes = [d[0], h, w, d[3]];
    let plain_scales = [1.0, h as f64 / d[1] as f64, w as f64 / d[2] as f64, 1.0];
    let nchw = c.has_nchw(x);
    let order: Vec<usize> = if nchw {
        TO_NCHW.to_vec()
    } else {
        vec![0, 1, 2, 3]
    };
    let r = Resize {
        sizes: order.iter().map(|&i| plain_sizes[i]).collect(),
        scales: order.iter().map(|&i| plain_scales[i]).collect(),
        roi: vec![],
        mode,
        coord,
        antialias: false,
        exclude_outside: false,
        extrapolation: 0.0,
    };
    let v = if nchw { c.nchw(x)? } else { c.plain(x)? };
    let out = c.add(Op::Resize(r), vec![v])?;
    Ok(vec![if nchw {
        c.nchw_out(out)
    } else {
        c.plain_out(out)
    }])
}
