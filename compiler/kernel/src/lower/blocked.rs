//! Channel-blocked layout (see `neoc_ir::ops::layout`): the conversions, and
//! convolutions over blocked tensors.
//!
//! - `ToBlocked` / `FromBlocked`: one parallel loop over (image, channel block); the
//!   innermost loop runs along the contiguous side (the block's lanes when writing
//!   blocked data, the pixels when writing planar data), the other side is read with a
//!   stride.
//! - `BlockedConv`, depthwise: [`super::depthwise`] with its lane loop.
//! - `BlockedConv`, pointwise (1×1, unpadded): the register-tiled product of
//!   [`super::tiled_gemm`] with rows = output pixels, columns = output channels and
//!   K = input channels: `Y[p, oc] = Σ X[p(ih, iw), ic] · W[oc, ic]`. A is the blocked
//!   input itself (element `(p, ic)` at `((img·C/b + ic/b)·H·W + pixel(p))·b + ic%b`,
//!   with the stride applied in `pixel`), B the weights packed at compile time, and C the
//!   blocked output ([`CLayout::Blocked`]): every register tile is whole vectors of
//!   output channels, whatever the image size. Bias and the epilogue run per finished
//!   region, vectorized along the block's lanes.

use super::conv::Geometry;
use super::fused::AnchorTail;
use super::tiled_gemm::{pack_b, BLayout, CLayout, TileShape, TiledGemm};
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{LoopKind, ScalarType};
use crate::KernelBuilder;
use neoc_ir::ops::{BlockedConv, Blocking, Fused};

/// `ToBlocked` (`to_blocked`) or `FromBlocked`.
pub(super) fn convert(cx: &mut Ctx<'_>, b: &Blocking, to_blocked: bool) -> Result<(), LowerError> {
    let planar = if to_blocked {
        cx.dims(cx.operand(0)?)?
    } else {
        cx.dims(cx.output(0))?
    };
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let blk = b.block as i64;
    let outer = (planar[0] * planar[1]) as i64 / blk;
    let spatial: i64 = planar[2..].iter().product::<u64>() as i64;
    cx.b.for_loop("o", 0, outer, LoopKind::Parallel, |kb, o| {
        // Planar element (o, l, s) ↔ blocked element (o, s, l).
        let planar_at = |l: &Expr, s: &Expr| {
            (o.clone() * Expr::i64(blk) + l.clone()) * Expr::i64(spatial) + s.clone()
        };
        let blocked_at = |l: &Expr, s: &Expr| {
            (o.clone() * Expr::i64(spatial) + s.clone()) * Expr::i64(blk) + l.clone()
        };
        if to_blocked {
            kb.for_loop("s", 0, spatial, LoopKind::Serial, |kb, s| {
                kb.for_loop("l", 0, blk, LoopKind::Vectorize, |kb, l| {
                    kb.store(y, blocked_at(&l, &s), Expr::load(x, planar_at(&l, &s)));
                });
            });
        } else {
            kb.for_loop("l", 0, blk, LoopKind::Serial, |kb, l| {
                kb.for_loop("s", 0, spatial, LoopKind::Vectorize, |kb, s| {
                    kb.store(y, planar_at(&l, &s), Expr::load(x, blocked_at(&l, &s)));
                });
            });
        }
    });
    Ok(())
}

/// A convolution over blocked tensors (the shapes the `blocked-layout` pass moves).
pub(super) fn conv(
    cx: &mut Ctx<'_>,
    c: &BlockedConv,
    fused: Option<&Fused>,
) -> Result<(), LowerError> {
    let (xd, wd, yd) = (
        cx.dims(cx.operand(0)?)?,
        cx.dims(cx.operand(1)?)?,
        cx.dims(cx.output(0))?,
    );
    if cx.scalar_type(cx.operand(0)?)? != ScalarType::F32 || xd.len() != 5 {
        return cx.err("a blocked convolution is 2-d and float32");
    }
    let conv = &c.conv;
    let Some(g) = Geometry::new(
        &xd[2..4],
        &yd[2..4],
        &conv.kernel,
        &conv.strides,
        &conv.pads,
        &conv.dilations,
    ) else {
        return cx.err("a blocked convolution is 2-d");
    };
    let blk = c.block as i64;
    let channels = xd[1] * c.block;
    if conv.group == channels && wd[1] == 1 && wd[0] == channels {
        return super::depthwise::depthwise(cx, fused, &g, (&xd, &wd, &yd), Some(blk));
    }
    let pointwise = conv.group == 1 && (g.kh, g.kw, g.ph, g.pw, g.dh, g.dw) == (1, 1, 0, 0, 1, 1);
    if !pointwise {
        return cx.err(format!(
            "internal: no blocked schedule for a {}x{} convolution of {} groups",
            g.kh, g.kw, conv.group
        ));
    }
    pointwise_conv(cx, fused, &g, (&xd, &wd, &yd), blk)
}

fn pointwise_conv(
    cx: &mut Ctx<'_>,
    fused: Option<&Fused>,
    g: &Geometry,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
    blk: i64,
) -> Result<(), LowerError> {
    let (n, icb) = (xd[0] as i64, xd[1] as i64);
    let (oc, ic) = (wd[0] as i64, wd[1] as i64);
    let ocb = oc / blk;
    let pixels_in = g.h * g.w;
    let pixels = g.oh * g.ow;
    let x = cx.bind_input(0)?;
    let Some(w) = cx.const_f32(cx.operand(1)?) else {
        return cx.err("internal: a blocked convolution needs constant weights");
    };
    // B[ic, oc] = W[oc, ic]: W is B transposed.
    let wb = cx.bind_constant("w_packed", &pack_b(&w, ic as usize, oc as usize, true));
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, yd)?;
    let strided = (g.sh, g.sw) != (1, 1);
    // Input pixel of output pixel p (the image's own index when the stride is 1).
    let pixel = |p: Expr| {
        if strided {
            let (oh, ow) = (p.clone() / Expr::i64(g.ow), p % Expr::i64(g.ow));
            oh * Expr::i64(g.sh * g.w) + ow * Expr::i64(g.sw)
        } else {
            p
        }
    };
    let a_at = |img: &Expr, p: Expr, k: Expr| {
        let block = img.clone() * Expr::i64(icb) + k.clone() / Expr::i64(blk);
        (block * Expr::i64(pixels_in) + pixel(p)) * Expr::i64(blk) + k % Expr::i64(blk)
    };
    let c_at = |img: &Expr, p: Expr, jb: Expr| {
        ((img.clone() * Expr::i64(ocb) + jb) * Expr::i64(pixels) + p) * Expr::i64(blk)
    };
    let b_base = |_: &Expr| Expr::i64(0);
    let finish = |b: &mut KernelBuilder, img: &Expr, p: Expr, jb: Expr, l: Expr, v: Expr| {
        let mut v = match bias {
            Some(bb) => v + Expr::load(bb, jb.clone() * Expr::i64(blk) + l.clone()),
            None => v,
        };
        if let Some(e) = &epi {
            let (oh, ow) = (p.clone() / Expr::i64(g.ow), p % Expr::i64(g.ow));
            v = e.value(b, v, &[img.clone(), jb, oh, ow, l]);
        }
        v
    };
    let needs_finish = bias.is_some() || epi.is_some();
    TiledGemm {
        shape: TileShape::for_unit(cx.unit).with_mma(cx.mma_input()),
        batch: n,
        m: pixels,
        n: oc,
        k: ic,
        a: x,
        a_at: &a_at,
        b: wb,
        b_layout: BLayout::Packed(&b_base),
        c: y,
        c_layout: CLayout::Blocked {
            block: blk,
            at: &c_at,
            finish: needs_finish.then_some(&finish as super::tiled_gemm::BlockFinish<'_>),
        },
    }
    .emit(&mut cx.b);
    Ok(())
}
