//! Depthwise convolution (one input channel per group), accumulating in registers.
//!
//! For every output pixel the kernel window's taps are summed into one accumulator and
//! stored once (the row-oriented direct convolution instead reads and writes the output
//! row once per tap). Output rows and columns split at compile time into an interior,
//! where every tap of the window is inside the image, and a border. Interior columns run
//! as one loop without conditions, whose taps are unrolled: LLVM vectorizes it along the
//! output columns (contiguous loads for stride 1, interleaved ones for stride 2), with
//! the weights in registers. Each border row and column (usually a 1-pixel frame) is
//! emitted with its constant index, so the taps that fall in the padding are simply not
//! emitted — no run-time checks (for 7×7 planes the border is half the pixels). Only
//! windows about as large as the image fall back to testing each tap with a select on a
//! clamped (always valid) index. Bias and the fused epilogue are applied to
//! the accumulator before the store.
//!
//! Channel-blocked tensors (`BlockedConv`, `block` channels innermost) run the same
//! schedule with one more loop: each output pixel's taps are computed for the `block`
//! channels of its block in an innermost loop that LLVM vectorizes (contiguous loads
//! of input, weights — repacked at compile time to `[C/block][kh·kw][block]` — and
//! bias), so the columns loop stays scalar and narrow images lose nothing.

use super::conv::Geometry;
use super::fused::AnchorTail;
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{LoopKind, ScalarType};
use crate::KernelBuilder;
use neoc_ir::ops::Fused;

/// Border rows (or columns) from which the border is tested at run time instead of
/// being emitted row by row with compile-time tap validity.
const MAX_UNROLLED_BORDER: usize = 8;

/// Index range `lo..hi` of outputs whose whole window (size `k`, stride `s`, padding
/// `p`, dilation `d`) lies inside an input of length `n`; empty when there is none.
fn interior(n: i64, out: i64, k: i64, s: i64, p: i64, d: i64) -> (i64, i64) {
    let lo = (p + s - 1) / s;
    let last = n - 1 + p - (k - 1) * d;
    let hi = if last < 0 { 0 } else { (last / s + 1).min(out) };
    if hi <= lo {
        (0, 0)
    } else {
        (lo, hi)
    }
}

/// Depthwise convolution of planar tensors (`block` None) or of channel-blocked ones
/// (`Some(block)`: `xd`, `yd` are the blocked dims, `wd` the planar weight dims).
pub(super) fn depthwise(
    cx: &mut Ctx<'_>,
    fused: Option<&Fused>,
    g: &Geometry,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
    block: Option<i64>,
) -> Result<(), LowerError> {
    let taps = g.kh * g.kw;
    let x = cx.bind_input(0)?;
    let w = match block {
        None => cx.bind_input(1)?,
        Some(blk) => {
            let Some(w) = cx.const_f32(cx.operand(1)?) else {
                return cx.err("internal: a blocked depthwise convolution needs constant weights");
            };
            cx.bind_constant("w_blocked", &block_filters(&w, taps as usize, blk as usize))
        }
    };
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, yd)?;
    let one_d = yd.len() == 3;
    let blk = block.unwrap_or(1);
    let (n, cin, m) = (xd[0] as i64, xd[1] as i64 * blk, wd[0] as i64);
    // One input channel per group: output channel oc reads channel oc / (m / cin).
    let per_group = m / cin;
    let (oh_lo, oh_hi) = interior(g.h, g.oh, g.kh, g.sh, g.ph, g.dh);
    let (ow_lo, ow_hi) = interior(g.w, g.ow, g.kw, g.sw, g.pw, g.dw);
    let acc = cx.b.var("acc", ScalarType::F32);
    // Parallel over (image, output channel), or (image, channel block) when blocked.
    let (units, columns) = match block {
        None => (n * m, LoopKind::Vectorize),
        Some(_) => (n * (m / blk), LoopKind::Serial),
    };
    // For many threads (GPUs) one parallel iteration per output pixel, every tap tested.
    let flat = cx.unit.parallelism > super::conv::GEMM_ONLY_PARALLELISM;
    let body = |b: &mut KernelBuilder, nm: Expr, pixel_at: Option<(Expr, Expr)>| {
        let img = nm.clone() / Expr::i64(units / n);
        let unit = nm.clone() % Expr::i64(units / n);
        let plane = match block {
            None => {
                let chan = img.clone() * Expr::i64(cin) + unit.clone() / Expr::i64(per_group);
                chan * Expr::i64(g.h * g.w)
            }
            Some(_) => nm.clone() * Expr::i64(g.h * g.w),
        };
        // One output pixel. Taps with `kh_ok(kh) && kw_ok(kw)` false are dropped (known
        // to lie in the padding); `checked` instead tests every tap at run time.
        let pixel = |b: &mut KernelBuilder,
                     (oh, kh_ok): (Expr, &dyn Fn(i64) -> bool),
                     (ow, kw_ok): (Expr, &dyn Fn(i64) -> bool),
                     checked: bool| {
            // The output channel's (or block lane's) value at this pixel.
            let channel = |b: &mut KernelBuilder, lane: Option<Expr>| {
                let oc = match &lane {
                    None => unit.clone(),
                    Some(l) => unit.clone() * Expr::i64(blk) + l.clone(),
                };
                let init = match bias {
                    Some(bb) => Expr::load(bb, oc.clone()),
                    None => Expr::f32(0.0),
                };
                b.assign(acc, init);
                for kh in (0..g.kh).filter(|&kh| kh_ok(kh)) {
                    for kw in (0..g.kw).filter(|&kw| kw_ok(kw)) {
                        let ih = oh.clone() * Expr::i64(g.sh) + Expr::i64(kh * g.dh - g.ph);
                        let iw = ow.clone() * Expr::i64(g.sw) + Expr::i64(kw * g.dw - g.pw);
                        let tap = Expr::i64(kh * g.kw + kw);
                        let wt = match &lane {
                            None => Expr::load(w, oc.clone() * Expr::i64(taps) + tap),
                            Some(l) => Expr::load(
                                w,
                                (unit.clone() * Expr::i64(taps) + tap) * Expr::i64(blk) + l.clone(),
                            ),
                        };
                        let lanes = lane.as_ref().map(|l| (blk, l));
                        let xv = g.padded_load_lane(x, &plane, (ih, iw), checked, lanes);
                        b.assign(acc, Expr::fma(wt, xv, Expr::var(acc)));
                    }
                }
                let pix =
                    (nm.clone() * Expr::i64(g.oh) + oh.clone()) * Expr::i64(g.ow) + ow.clone();
                let (out, coords) = match &lane {
                    None if one_d => (pix, vec![img.clone(), oc, ow.clone()]),
                    None => (pix, vec![img.clone(), oc, oh.clone(), ow.clone()]),
                    Some(l) => (
                        pix * Expr::i64(blk) + l.clone(),
                        vec![img.clone(), unit.clone(), oh.clone(), ow.clone(), l.clone()],
                    ),
                };
                let v = match &epi {
                    Some(e) => e.value(b, Expr::var(acc), &coords),
                    None => Expr::var(acc),
                };
                b.store(y, out, v);
            };
            match block {
                None => channel(b, None),
                Some(blk) => {
                    b.for_loop("l", 0, blk, LoopKind::Vectorize, |b, l| channel(b, Some(l)))
                }
            }
        };
        let all = |_: i64| true;
        if let Some((oh, ow)) = pixel_at {
            pixel(b, (oh, &all), (ow, &all), true);
            return;
        }
        // Taps of a border row/column at constant output index `o` that hit the image.
        let valid = |o: i64, s: i64, p: i64, d: i64, len: i64| {
            move |k: i64| (0..len).contains(&(o * s - p + k * d))
        };
        let border_cols: Vec<i64> = (0..ow_lo).chain(ow_hi.max(ow_lo)..g.ow).collect();
        let border_rows: Vec<i64> = (0..oh_lo).chain(oh_hi.max(oh_lo)..g.oh).collect();
        // Few border pixels (the usual 1-pixel frame): emit each border row and column
        // with its own constant index, so that every tap's validity is known at compile
        // time. Otherwise (windows as large as the image) test taps at run time.
        let unrolled =
            border_cols.len() <= MAX_UNROLLED_BORDER && border_rows.len() <= MAX_UNROLLED_BORDER;
        let row = |b: &mut KernelBuilder, oh: Expr, kh_ok: &dyn Fn(i64) -> bool| {
            if !unrolled {
                b.for_loop("ow", 0, g.ow, LoopKind::Serial, |b, ow| {
                    pixel(b, (oh.clone(), &all), (ow, &all), true);
                });
                return;
            }
            for &c in border_cols.iter().filter(|&&c| c < ow_lo) {
                let kw_ok = valid(c, g.sw, g.pw, g.dw, g.w);
                pixel(b, (oh.clone(), kh_ok), (Expr::i64(c), &kw_ok), false);
            }
            if ow_lo < ow_hi {
                b.for_loop("ow", ow_lo, ow_hi, columns, |b, ow| {
                    pixel(b, (oh.clone(), kh_ok), (ow, &all), false);
                });
            }
            for &c in border_cols.iter().filter(|&&c| c >= ow_lo) {
                let kw_ok = valid(c, g.sw, g.pw, g.dw, g.w);
                pixel(b, (oh.clone(), kh_ok), (Expr::i64(c), &kw_ok), false);
            }
        };
        let border_row = |b: &mut KernelBuilder, r: i64| {
            if unrolled {
                let kh_ok = valid(r, g.sh, g.ph, g.dh, g.h);
                row(b, Expr::i64(r), &kh_ok);
            } else {
                row(b, Expr::i64(r), &all);
            }
        };
        for &r in border_rows.iter().filter(|&&r| r < oh_lo) {
            border_row(b, r);
        }
        if oh_lo < oh_hi {
            b.for_loop("oh", oh_lo, oh_hi, LoopKind::Serial, |b, oh| {
                row(b, oh, &all)
            });
        }
        for &r in border_rows.iter().filter(|&&r| r >= oh_lo) {
            border_row(b, r);
        }
    };
    if flat {
        let pixels = g.oh * g.ow;
        cx.b.for_loop("e", 0, units * pixels, LoopKind::Parallel, |b, e| {
            let at = (
                (e.clone() / Expr::i64(g.ow)) % Expr::i64(g.oh),
                e.clone() % Expr::i64(g.ow),
            );
            body(b, e / Expr::i64(pixels), Some(at));
        });
    } else {
        cx.b.for_loop("nm", 0, units, LoopKind::Parallel, |b, nm| {
            body(b, nm, None)
        });
    }
    Ok(())
}

/// Depthwise filters `[C][taps]` regrouped as `[C/block][taps][block]`, so that one
/// tap of a channel block is `block` consecutive values.
fn block_filters(w: &[f32], taps: usize, block: usize) -> Vec<f32> {
    let blocks = w.len() / (taps * block);
    let mut out = Vec::with_capacity(w.len());
    for cb in 0..blocks {
        for t in 0..taps {
            out.extend((0..block).map(|l| w[(cb * block + l) * taps + t]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{block_filters, interior};

    #[test]
    fn blocked_filters_put_a_blocks_lanes_side_by_side() {
        // 4 channels of 2 taps, blocks of 2: [c0t0 c1t0 c0t1 c1t1 c2t0 c3t0 ...].
        let w: Vec<f32> = (0..8).map(|i| i as f32).collect();
        assert_eq!(
            block_filters(&w, 2, 2),
            vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]
        );
    }

    #[test]
    fn interior_matches_brute_force() {
        for (n, k, s, p, d) in [
            (7, 3, 1, 1, 1),
            (8, 3, 2, 1, 1),
            (5, 5, 1, 2, 1),
            (9, 3, 2, 2, 2),
            (2, 3, 1, 0, 1),
        ] {
            let out = (n + 2 * p - d * (k - 1) - 1) / s + 1;
            let (lo, hi) = interior(n, out.max(0), k, s, p, d);
            for o in 0..out.max(0) {
                let all_in = (0..k).all(|t| {
                    let i = o * s + t * d - p;
                    (0..n).contains(&i)
                });
                assert_eq!(
                    all_in,
                    (lo..hi).contains(&o),
                    "n{n} k{k} s{s} p{p} d{d} o{o}"
                );
            }
        }
    }
}
