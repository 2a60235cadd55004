//! Int8 depthwise convolution (`QConv` with one input and one output channel per
//! group): a direct kernel, not the GEMM.
//!
//! As a GEMM a depthwise layer is one row of K = 9 per group: its pack stage (im2col of
//! every tap into words) writes 9 bytes per output value and costs more than the dot
//! products, and each product computes 16 columns for one channel's 9 taps. Here the
//! int8 GEMM's pad stage copies `x` with `x_zero` borders, and one pass computes each
//! output row directly from it, vectorized along the row: per tap one widening load of
//! 16 consecutive (or, for stride 2, every other) bytes, one multiply by the tap's
//! weight (a loop invariant), one add; then the GEMM's epilogue (compensation
//! `bias − x_zero · Σw`, scale, residual, rounding, clamp, narrowing) in registers,
//! without an accumulator slot. Every value stays exact: at most `taps · 255 · 128` in
//! i32.
//!
//! Rows shorter than a whole number of vectors (MobileNet's 28, 14 and 7 pixels) run to
//! one (16 lanes, 8 for rows of up to 8; no scalar remainder) while what they write
//! past the row's end is rewritten by a later row of the same plane and what they read
//! stays within the padded copy's slack; the plane's last rows run to its exact width.

use super::conv::Geometry;
use super::int8_gemm::{bind_out, output_value};
use super::int8_pad::{pad_stage, padded_extent, padded_len, widen, PAD_SLACK};
use super::{Ctx, LowerError};
use crate::expr::{BinaryOp, ByteSign, Expr};
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::QConv;

/// Whether a node of `groups` groups, `m` output channels and `k` taps per group, with
/// `taps` taps per window, is depthwise (one input and one output channel per group).
pub(super) fn applies(groups: i64, m: i64, k: i64, taps: i64) -> bool {
    groups > 1 && m == 1 && k == taps
}

/// Lowers depthwise `q`: `wdw` holds the weights `[channel][tap]` as i32, `epi` the
/// GEMM's compensations (u8 form first), biases and weight sums (see [`bind_out`]).
pub(super) fn depthwise(
    cx: &mut Ctx<'_>,
    q: &QConv,
    geo: &Geometry,
    xd: &[u64],
    (x_zero, signed): (i32, bool),
    wdw: &[i32],
    (comp, biases, sums): (&[i32], &[i32], &[i32]),
) -> Result<(), LowerError> {
    let (n, c) = (xd[0] as i64, xd[1] as i64);
    let planes = n * c;
    let taps = geo.kh * geo.kw;
    let (hp, wp) = padded_extent(geo);
    // Stride 2 (dilation 1): the copy's rows get an even width and the kernel reads it
    // as u16 words, a tap being the low or high byte of word `ox + kx / 2`, so every
    // tap is one contiguous load (byte loads two apart vectorize poorly).
    let pairs = (geo.sw, geo.dw) == (2, 1);
    let wp = if pairs { (wp + 1) / 2 * 2 } else { wp };
    // Always the padded copy (also without padding): i8 activations become u8 there,
    // and its slack lets rows run to whole vectors.
    let zx = Expr::IConst(i64::from(x_zero), ScalarType::I32);
    let zero_input = cx.input(5).is_some().then_some(5);
    pad_stage(cx, geo, (planes, hp, wp), (&zx, signed), zero_input)?;
    let len = padded_len(planes, hp, wp);
    let src = if pairs {
        cx.bind_scratch(2, ScalarType::U16, len.div_ceil(2))
    } else {
        cx.bind_scratch(2, ScalarType::U8, len)
    };
    let w = cx.bind_constant("wdw", wdw);
    let out = bind_out(
        cx,
        q,
        ByteSign::Unsigned,
        &comp[..c as usize],
        (biases, sums),
        signed,
        c,
    )?;
    let g = *geo;
    // Whole vectors of 16 lanes, or of 8 for rows of up to 8 (7×7 maps: one 8-lane
    // vector a row instead of 16 lanes over two rows and more).
    let granule = if g.ow <= 8 { 8 } else { 16 };
    let run = (g.ow + granule - 1) / granule * granule;
    // Rows `0..whole` may run to `run`: row `oy` writes up to `oy · ow + run`, which a
    // later row of the plane rewrites while it is below the plane's end.
    let whole = if run > g.ow && (run - g.ow) * g.sw <= PAD_SLACK && g.oh * g.ow >= run {
        ((g.oh * g.ow - run) / g.ow + 1).min(g.oh)
    } else {
        0
    };
    let b = &mut cx.b;
    b.for_loop("pl", 0, planes, LoopKind::Parallel, |b, pl| {
        let ch = pl.clone() % Expr::i64(c);
        let plane = pl.clone() * Expr::i64(hp * wp);
        let dst = pl * Expr::i64(g.oh * g.ow);
        let row = |b: &mut crate::KernelBuilder, oy: Expr, width: i64| {
            let top = plane.clone() + oy.clone() * Expr::i64(g.sh * wp);
            let line = dst.clone() + oy * Expr::i64(g.ow);
            b.for_loop("ox", 0, width, LoopKind::Vectorize, |b, ox| {
                let left = top.clone() + ox.clone() * Expr::i64(g.sw);
                let mut acc = out.comp.at(ch.clone());
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let wt =
                            Expr::load(w, ch.clone() * Expr::i64(taps) + Expr::i64(ky * g.kw + kx));
                        let tap = if pairs {
                            // `top` and the row offset are even: wp is.
                            let at = top.clone() / Expr::i64(2)
                                + ox.clone()
                                + Expr::i64((ky * g.dh * wp + kx) / 2);
                            let word = Expr::cast(ScalarType::I32, Expr::load(src, at));
                            let i32c = |v| Expr::IConst(v, ScalarType::I32);
                            if kx % 2 == 0 {
                                Expr::binary(BinaryOp::And, word, i32c(0xff))
                            } else {
                                Expr::binary(BinaryOp::Shr, word, i32c(8))
                            }
                        } else {
                            let at = left.clone() + Expr::i64(ky * g.dh * wp + kx * g.dw);
                            widen(Expr::load(src, at), false)
                        };
                        acc = acc + tap * wt;
                    }
                }
                let at = line.clone() + ox;
                let v = output_value(&out, acc, &ch, &at);
                b.store(out.y, at, v);
            });
        };
        if whole > 0 {
            b.for_loop("oy", 0, whole, LoopKind::Serial, |b, oy| row(b, oy, run));
        }
        if whole < g.oh {
            b.for_loop("oy", whole, g.oh, LoopKind::Serial, |b, oy| {
                row(b, oy, g.ow)
            });
        }
    });
    Ok(())
}
