//! Convolution (1-D and 2-D; 1-D runs as 2-D with height 1; other ranks:
//! [`super::conv_nd`]).
//!
//! Algorithms, chosen per node:
//! - **Winograd** F(2×2, 3×3) for 3×3 stride-1 convolutions with constant weights and
//!   enough channels and output tiles: [`super::winograd`].
//! - **GEMM** (dense and grouped convolutions with a reduction of at least
//!   [`MIN_GEMM_REDUCTION`] taps and at least [`MIN_GEMM_ROWS`] output channels per
//!   group): per image and group, `Y[oc, pixel] = W[oc, (ic, kh,
//!   kw)] · X_col[(ic, kh, kw), pixel]` through the register-tiled product of
//!   [`super::tiled_gemm`]. A 1×1, stride-1, unpadded convolution reads X itself as
//!   X_col; any other shape first runs an im2col stage that writes X_col (zeros where the
//!   window hangs over the padding) to scratch memory. Bias and the fused epilogue are
//!   applied per finished tile. On GPUs (`VectorUnit::parallelism` above
//!   [`GEMM_ONLY_PARALLELISM`]) the product is the shared-memory block GEMM of
//!   [`crate::gpu::gemm`], and the other shapes are implicit GEMMs ([`implicit_gemm`]):
//!   its B tiles are loaded from X directly, so no im2col stage runs.
//! - **Depthwise** (one input channel per group): [`super::depthwise`].
//! - **Direct** (other tiny products, where a GEMM would be mostly edge
//!   tiles), described below.
//!
//! Direct convolution, output-row oriented: for each (image, output channel, output row)
//! the row is initialised with the bias, then every (input channel, kernel row, kernel
//! column) tap adds `w * input_row[shifted]` over the range of output columns whose
//! input column lies inside the image. The column range is computed at compile time per
//! kernel column, so the innermost loop has no bounds checks and, for stride 1, reads
//! contiguous memory. The outermost loop (image × output channel) is parallel.

use super::fused::{AnchorTail, Epilogue};
use super::tiled_gemm::{BLayout, CLayout, TileShape, TiledGemm};
use super::{Ctx, LowerError};
use crate::expr::{Expr, UnaryOp};
use crate::kernel::{Access, LoopKind, ScalarType};
use crate::KernelBuilder;
use neoc_ir::ops::{Conv, Fused};

/// Taps per output value (input channels per group × kernel area) from which a
/// convolution runs as a GEMM; below it most of the product is edge tiles.
const MIN_GEMM_REDUCTION: u64 = 8;
/// Output channels per group from which a convolution runs as a GEMM: depthwise
/// convolutions (one output channel per group) would be products of a single row.
const MIN_GEMM_ROWS: u64 = 4;
/// Above this `VectorUnit::parallelism` (a GPU's threads) convolutions skip Winograd and
/// products run as block kernels (`gpu::gemm`).
pub(super) const GEMM_ONLY_PARALLELISM: u32 = 4096;

/// Normalised 2-D geometry of a convolution or pooling window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub h: i64,
    pub w: i64,
    pub kh: i64,
    pub kw: i64,
    pub sh: i64,
    pub sw: i64,
    pub ph: i64,
    pub pw: i64,
    pub dh: i64,
    pub dw: i64,
    pub oh: i64,
    pub ow: i64,
}

impl Geometry {
    /// From N-d attributes (1 or 2 spatial dims); `None` for other ranks.
    pub fn new(
        in_spatial: &[u64],
        out_spatial: &[u64],
        kernel: &[u64],
        strides: &[u64],
        pads: &[u64],
        dilations: &[u64],
    ) -> Option<Geometry> {
        let k = kernel.len();
        if !(1..=2).contains(&k) {
            return None;
        }
        // Axis 0 is the height, 1 the width; 1-D has only a width, and its height
        // axis gets `unit` (size, stride and dilation 1, no padding).
        let at = |v: &[u64], axis: usize, unit: i64| {
            if axis + k < 2 {
                unit
            } else {
                v[axis + k - 2] as i64
            }
        };
        Some(Geometry {
            h: at(in_spatial, 0, 1),
            w: at(in_spatial, 1, 1),
            kh: at(kernel, 0, 1),
            kw: at(kernel, 1, 1),
            sh: at(strides, 0, 1),
            sw: at(strides, 1, 1),
            ph: at(pads, 0, 0),
            pw: at(pads, 1, 0),
            dh: at(dilations, 0, 1),
            dw: at(dilations, 1, 1),
            oh: at(out_spatial, 0, 1),
            ow: at(out_spatial, 1, 1),
        })
    }

    /// `x[plane + ih·w + iw]`, or 0 where `(ih, iw)` lies in the padding. With `checked`
    /// false the caller guarantees it does not; otherwise the load goes through a
    /// clamped (always valid) index, so the kernel never reads outside the plane.
    pub fn padded_load(
        &self,
        x: crate::BufId,
        plane: &Expr,
        (ih, iw): (Expr, Expr),
        checked: bool,
    ) -> Expr {
        self.padded_load_lane(x, plane, (ih, iw), checked, None)
    }

    /// [`Geometry::padded_load`] of lane `lane` of a channel-blocked image (`block`
    /// channels per pixel; `plane` is the channel block's first pixel).
    pub fn padded_load_lane(
        &self,
        x: crate::BufId,
        plane: &Expr,
        (ih, iw): (Expr, Expr),
        checked: bool,
        lanes: Option<(i64, &Expr)>,
    ) -> Expr {
        let pixel = plane.clone() + ih.clone() * Expr::i64(self.w) + iw.clone();
        let element = |p: Expr| match lanes {
            Some((block, lane)) => p * Expr::i64(block) + lane.clone(),
            None => p,
        };
        let at = element(pixel);
        if !checked {
            return Expr::load(x, at);
        }
        let inside = ih
            .clone()
            .ge(Expr::i64(0))
            .and(ih.lt(Expr::i64(self.h)))
            .and(iw.clone().ge(Expr::i64(0)))
            .and(iw.lt(Expr::i64(self.w)));
        let safe = Expr::select(inside.clone(), at, element(plane.clone()));
        Expr::select(inside, Expr::load(x, safe), Expr::f32(0.0))
    }

    /// Output columns `lo..hi` whose input column `ow*sw + kw*dw - pw` is inside the image.
    pub fn valid_cols(&self, kw: i64) -> (i64, i64) {
        let shift = kw * self.dw - self.pw;
        let lo = if shift < 0 {
            (-shift + self.sw - 1) / self.sw
        } else {
            0
        };
        let last = self.w - 1 - shift;
        let hi = if last < 0 {
            0
        } else {
            (last / self.sw + 1).min(self.ow)
        };
        (lo.min(self.ow), hi.max(lo.min(self.ow)))
    }
}

pub(super) fn conv(cx: &mut Ctx<'_>, c: &Conv, fused: Option<&Fused>) -> Result<(), LowerError> {
    let (Some(vx), Some(vw)) = (cx.input(0), cx.input(1)) else {
        return cx.err("missing operand");
    };
    let (xd, wd, yd) = (cx.dims(vx)?, cx.dims(vw)?, cx.dims(cx.output(0))?);
    if cx.scalar_type(vx)? != ScalarType::F32 {
        return cx.err("only float32 convolution is supported");
    }
    let Some(g) = Geometry::new(
        &xd[2..],
        &yd[2..],
        &c.kernel,
        &c.strides,
        &c.pads,
        &c.dilations,
    ) else {
        return super::conv_nd::conv_nd(cx, c, fused, (&xd, &wd, &yd));
    };
    let constant_weights = cx.input(1).is_some_and(|v| cx.const_f32(v).is_some());
    // Winograd's transforms are parallel over channels only; schedules for many threads
    // (GPUs, `VectorUnit::parallelism`) take the tiled GEMM below instead.
    let wino = super::winograd::variant(&g, c.group, xd[1], wd[0])
        .filter(|_| cx.unit.parallelism <= GEMM_ONLY_PARALLELISM);
    if let (4, true, Some(v)) = (yd.len(), constant_weights, wino) {
        return super::winograd::winograd(cx, fused, &g, v, (&xd, &wd, &yd));
    }
    let reduction = wd[1] * c.kernel.iter().product::<u64>();
    if reduction >= MIN_GEMM_REDUCTION && wd[0] / c.group >= MIN_GEMM_ROWS {
        return conv_gemm(cx, c, fused, &g, (&xd, &wd, &yd));
    }
    if wd[1] == 1 {
        return super::depthwise::depthwise(cx, fused, &g, (&xd, &wd, &yd), None);
    }
    let x = cx.bind_input(0)?;
    let w = cx.bind_input(1)?;
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, &yd)?;
    let one_d = yd.len() == 3;
    let (n, cin, m) = (xd[0] as i64, xd[1] as i64, wd[0] as i64);
    let groups = c.group as i64;
    let (cg, mg) = (cin / groups, m / groups);
    let wv = cx.b.var("w", ScalarType::F32);

    cx.b.for_loop("nm", 0, n * m, LoopKind::Parallel, |b, nm| {
        let img = nm.clone() / Expr::i64(m);
        let oc = nm.clone() % Expr::i64(m);
        let group = oc.clone() / Expr::i64(mg);
        b.for_loop("oh", 0, g.oh, LoopKind::Serial, |b, oh| {
            let out_row = (nm.clone() * Expr::i64(g.oh) + oh.clone()) * Expr::i64(g.ow);
            b.for_loop("ow", 0, g.ow, LoopKind::Vectorize, |b, ow| {
                let init = match bias {
                    Some(bb) => Expr::load(bb, oc.clone()),
                    None => Expr::f32(0.0),
                };
                b.store(y, out_row.clone() + ow, init);
            });
            b.for_loop("ic", 0, cg, LoopKind::Serial, |b, ic| {
                let in_chan =
                    img.clone() * Expr::i64(cin) + group.clone() * Expr::i64(cg) + ic.clone();
                b.for_loop("kh", 0, g.kh, LoopKind::Serial, |b, kh| {
                    let ih = oh.clone() * Expr::i64(g.sh) - Expr::i64(g.ph)
                        + kh.clone() * Expr::i64(g.dh);
                    let inside = ih
                        .clone()
                        .ge(Expr::i64(0))
                        .and(ih.clone().lt(Expr::i64(g.h)));
                    b.if_then(inside, |b| {
                        let in_row =
                            (in_chan.clone() * Expr::i64(g.h) + ih.clone()) * Expr::i64(g.w);
                        let w_row = ((oc.clone() * Expr::i64(cg) + ic.clone()) * Expr::i64(g.kh)
                            + kh.clone())
                            * Expr::i64(g.kw);
                        for kw in 0..g.kw {
                            let (lo, hi) = g.valid_cols(kw);
                            if lo >= hi {
                                continue;
                            }
                            b.assign(wv, Expr::load(w, w_row.clone() + Expr::i64(kw)));
                            let shift = kw * g.dw - g.pw;
                            b.for_loop("ow", lo, hi, LoopKind::Vectorize, |b, ow| {
                                let iw = if g.sw == 1 {
                                    ow.clone()
                                } else {
                                    ow.clone() * Expr::i64(g.sw)
                                };
                                let src = Expr::load(x, in_row.clone() + iw + Expr::i64(shift));
                                let dst = out_row.clone() + ow;
                                let acc = Expr::fma(Expr::var(wv), src, Expr::load(y, dst.clone()));
                                b.store(y, dst, acc);
                            });
                        }
                    });
                });
            });
            if let Some(epi) = &epi {
                b.for_loop("ow", 0, g.ow, LoopKind::Vectorize, |b, ow| {
                    let dst = out_row.clone() + ow.clone();
                    let coords = if one_d {
                        vec![img.clone(), oc.clone(), ow]
                    } else {
                        vec![img.clone(), oc.clone(), oh.clone(), ow]
                    };
                    let v = epi.value(b, Expr::load(y, dst.clone()), &coords);
                    b.store(y, dst, v);
                });
            }
        });
    });
    Ok(())
}

/// The GEMM algorithm (see the module docs).
fn conv_gemm(
    cx: &mut Ctx<'_>,
    c: &Conv,
    fused: Option<&Fused>,
    g: &Geometry,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
) -> Result<(), LowerError> {
    let (n, cin, m) = (xd[0] as i64, xd[1] as i64, wd[0] as i64);
    let groups = c.group as i64;
    let (cg, mg) = (cin / groups, m / groups);
    let taps = cg * g.kh * g.kw;
    let pixels = g.oh * g.ow;
    let batch = n * groups;
    let direct = g.kh == 1
        && g.kw == 1
        && g.sh == 1
        && g.sw == 1
        && g.ph == 0
        && g.pw == 0
        && g.oh == g.h
        && g.ow == g.w;
    if !direct && cx.unit.parallelism > GEMM_ONLY_PARALLELISM {
        return implicit_gemm(cx, fused, g, (&xd[..2], &wd[..1], yd), groups);
    }
    let w = cx.bind_input(1)?;
    let cols = if direct {
        cx.bind_input(0)?
    } else {
        let len = (batch * taps * pixels) as u64;
        let mut st = cx.stage("im2col");
        let x = cx.stage_input(&mut st, 0)?;
        let col = st.scratch(0, ScalarType::F32, len, Access::Write);
        im2col(&mut st.b, g, (x, col), (batch, cin, cg, groups));
        cx.add_stage(st)?;
        cx.bind_scratch(0, ScalarType::F32, len)
    };
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, yd)?;
    let one_d = yd.len() == 3;
    let a_at = |bi: &Expr, row: Expr, k: Expr| {
        let oc = (bi.clone() % Expr::i64(groups)) * Expr::i64(mg) + row;
        oc * Expr::i64(taps) + k
    };
    let b_row = |bi: &Expr, k: Expr| {
        if direct {
            // X[img, grp*cg + k, :]: batch bi = img*G + grp, so bi*cg + k is the channel.
            (bi.clone() * Expr::i64(cg) + k) * Expr::i64(pixels)
        } else {
            (bi.clone() * Expr::i64(taps) + k) * Expr::i64(pixels)
        }
    };
    let c_row = |bi: &Expr, row: Expr| (bi.clone() * Expr::i64(mg) + row) * Expr::i64(pixels);
    let finish = |b: &mut KernelBuilder, bi: &Expr, row: Expr, col: Expr, v: Expr| {
        conv_output(
            b,
            (bias, epi.as_ref()),
            (groups, mg, g.ow, one_d),
            (bi, row, col),
            v,
        )
    };
    let gemm = TiledGemm {
        shape: TileShape::for_unit(cx.unit).with_mma(cx.mma_input()),
        batch,
        m: mg,
        n: pixels,
        k: taps,
        a: w,
        a_at: &a_at,
        b: cols,
        b_layout: BLayout::Rows(&b_row),
        c: y,
        c_layout: CLayout::Rows {
            row: &c_row,
            finish: (bias.is_some() || epi.is_some())
                .then_some(&finish as &dyn Fn(&mut KernelBuilder, &Expr, Expr, Expr, Expr) -> Expr),
        },
    };
    gemm.emit(&mut cx.b);
    Ok(())
}

/// A convolution GEMM's output value `v` at (batch-group `bi`, output channel `row` of
/// its group, pixel `col`) finished: bias, then the fused epilogue at the output's
/// coordinates `[img, oc, (oh, ow) | ow]`. Shared by the im2col and implicit GEMMs.
fn conv_output(
    b: &mut KernelBuilder,
    (bias, epi): (Option<crate::BufId>, Option<&Epilogue>),
    (groups, mg, ow, one_d): (i64, i64, i64, bool),
    (bi, row, col): (&Expr, Expr, Expr),
    v: Expr,
) -> Expr {
    let oc = (bi.clone() % Expr::i64(groups)) * Expr::i64(mg) + row;
    let mut v = match bias {
        Some(bb) => v + Expr::load(bb, oc.clone()),
        None => v,
    };
    if let Some(epi) = epi {
        let img = bi.clone() / Expr::i64(groups);
        let coords = if one_d {
            vec![img, oc, col]
        } else {
            let oh = col.clone() / Expr::i64(ow);
            vec![img, oc, oh, col % Expr::i64(ow)]
        };
        v = epi.value(b, v, &coords);
    }
    v
}

/// The convolution as an implicit GEMM for GPUs ([`crate::gpu::gemm`]): the product of
/// [`conv_gemm`] with B = X_col read virtually — element `(k, pixel)`, `k = (ic, kh, kw)`,
/// is `x[img, grp·cg + ic, ih, iw]` of that window position, 0 over the padding — so
/// no im2col stage writes X_col to memory.
fn implicit_gemm(
    cx: &mut Ctx<'_>,
    fused: Option<&Fused>,
    g: &Geometry,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
    groups: i64,
) -> Result<(), LowerError> {
    let (cin, m) = (xd[1] as i64, wd[0] as i64);
    let (cg, mg) = (cin / groups, m / groups);
    let (taps, pixels) = (cg * g.kh * g.kw, g.oh * g.ow);
    let w = cx.bind_input(1)?;
    let x = cx.bind_input(0)?;
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, yd)?;
    let one_d = yd.len() == 3;
    let a_at = |bi: &Expr, row: Expr, k: Expr| {
        let oc = (bi.clone() % Expr::i64(groups)) * Expr::i64(mg) + row;
        oc * Expr::i64(taps) + k
    };
    let b_at = |bi: &Expr, k: Expr, j: Expr| {
        let window = g.kh * g.kw;
        let (ic, tap) = (k.clone() / Expr::i64(window), k % Expr::i64(window));
        let (kh, kw) = (tap.clone() / Expr::i64(g.kw), tap % Expr::i64(g.kw));
        let (oh, ow) = (j.clone() / Expr::i64(g.ow), j % Expr::i64(g.ow));
        let ih = oh * Expr::i64(g.sh) - Expr::i64(g.ph) + kh * Expr::i64(g.dh);
        let iw = ow * Expr::i64(g.sw) - Expr::i64(g.pw) + kw * Expr::i64(g.dw);
        let inside = ih
            .clone()
            .ge(Expr::i64(0))
            .and(ih.clone().lt(Expr::i64(g.h)))
            .and(iw.clone().ge(Expr::i64(0)))
            .and(iw.clone().lt(Expr::i64(g.w)));
        // Batch bi = img·groups + grp; its first input channel is bi·cg.
        let chan = bi.clone() * Expr::i64(cg) + ic;
        (
            Some(inside),
            (chan * Expr::i64(g.h) + ih) * Expr::i64(g.w) + iw,
        )
    };
    let c_at =
        |bi: &Expr, row: Expr, j: Expr| (bi.clone() * Expr::i64(mg) + row) * Expr::i64(pixels) + j;
    let finish = |b: &mut KernelBuilder, bi: &Expr, row: Expr, col: Expr, v: Expr| {
        conv_output(
            b,
            (bias, epi.as_ref()),
            (groups, mg, g.ow, one_d),
            (bi, row, col),
            v,
        )
    };
    crate::gpu::gemm::BlockGemm {
        batch: xd[0] as i64 * groups,
        m: mg,
        n: pixels,
        k: taps,
        a: w,
        a_at: &a_at,
        b: x,
        b_at: &b_at,
        c: y,
        c_at: &c_at,
        finish: (bias.is_some() || epi.is_some()).then_some(&finish as _),
        mma: cx.mma_input(),
    }
    .emit(&mut cx.b);
    Ok(())
}

/// `col[(bi, ic, kh, kw), oh, ow] = x[img, grp*cg + ic, ih, iw]`, zero where (ih, iw) is
/// in the padding; `bi = img*groups + grp`. Parallel over (bi, ic, kh); each kernel
/// column is emitted with its valid output-column range known at compile time.
fn im2col(
    b: &mut KernelBuilder,
    g: &Geometry,
    (x, col): (crate::BufId, crate::BufId),
    (batch, cin, cg, groups): (i64, i64, i64, i64),
) {
    let rows = batch * cg * g.kh;
    b.for_loop("q", 0, rows, LoopKind::Parallel, |b, q| {
        let bi = q.clone() / Expr::i64(cg * g.kh);
        let ic = (q.clone() / Expr::i64(g.kh)) % Expr::i64(cg);
        let kh = q.clone() % Expr::i64(g.kh);
        let img = bi.clone() / Expr::i64(groups);
        let grp = bi % Expr::i64(groups);
        let chan = img * Expr::i64(cin) + grp * Expr::i64(cg) + ic;
        for kw in 0..g.kw {
            let row = q.clone() * Expr::i64(g.kw) + Expr::i64(kw);
            let (lo, hi) = g.valid_cols(kw);
            let shift = kw * g.dw - g.pw;
            b.for_loop("oh", 0, g.oh, LoopKind::Serial, |b, oh| {
                let ih =
                    oh.clone() * Expr::i64(g.sh) - Expr::i64(g.ph) + kh.clone() * Expr::i64(g.dh);
                let dst = (row.clone() * Expr::i64(g.oh) + oh) * Expr::i64(g.ow);
                let inside = ih
                    .clone()
                    .ge(Expr::i64(0))
                    .and(ih.clone().lt(Expr::i64(g.h)));
                let zero_range = |b: &mut KernelBuilder, from: i64, to: i64| {
                    if from < to {
                        b.for_loop("ow", from, to, LoopKind::Vectorize, |b, ow| {
                            b.store(col, dst.clone() + ow, Expr::f32(0.0));
                        });
                    }
                };
                b.if_then(inside.clone(), |b| {
                    zero_range(b, 0, lo);
                    let src_row = (chan.clone() * Expr::i64(g.h) + ih.clone()) * Expr::i64(g.w);
                    b.for_loop("ow", lo, hi, LoopKind::Vectorize, |b, ow| {
                        let iw = ow.clone() * Expr::i64(g.sw) + Expr::i64(shift);
                        b.store(col, dst.clone() + ow, Expr::load(x, src_row.clone() + iw));
                    });
                    zero_range(b, hi, g.ow);
                });
                b.if_then(Expr::unary(UnaryOp::Not, inside), |b| {
                    zero_range(b, 0, g.ow)
                });
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(w: i64, kw: i64, sw: i64, pw: i64, dw: i64) -> Geometry {
        let ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
        Geometry {
            h: 1,
            w,
            kh: 1,
            kw,
            sh: 1,
            sw,
            ph: 0,
            pw,
            dh: 1,
            dw,
            oh: 1,
            ow,
        }
    }

    #[test]
    fn valid_columns_match_brute_force() {
        for (w, kw, sw, pw, dw) in [
            (9, 3, 1, 1, 1),
            (13, 3, 2, 2, 2),
            (7, 5, 3, 2, 1),
            (4, 3, 1, 0, 1),
        ] {
            let g = geo(w, kw, sw, pw, dw);
            for k in 0..kw {
                let (lo, hi) = g.valid_cols(k);
                for ow in 0..g.ow {
                    let iw = ow * sw + k * dw - pw;
                    let inside = iw >= 0 && iw < w;
                    assert_eq!(
                        inside,
                        ow >= lo && ow < hi,
                        "w{w} kw{kw} s{sw} p{pw} d{dw} k{k} ow{ow}"
                    );
                }
            }
        }
    }
}
