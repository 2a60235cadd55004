//! Winograd convolution F(m×m, 3×3) — F(4×4) where the image has enough tiles, else
//! F(2×2) — for 3×3, stride 1, undilated, ungrouped convolutions ([`Variant`]).
//!
//! Each m×m block of outputs needs α² = (m+2)² multiplications instead of 9m² (F(2×2):
//! 16 for 4 outputs, 2.25x fewer; F(4×4): 36 for 16, 4x fewer), in three stages:
//! 1. input transform (stage kernel): every α×α input patch `d` (tiles overlap by 2)
//!    becomes `V = Bᵀ d B`, stored as α² matrices `V[ξν][c][tile]`;
//! 2. α² independent products `M[ξν] = U[ξν] · V[ξν]` through the register-tiled GEMM
//!    (stage kernel), where `U[ξν][m][c] = (G g G^T)[ξ][ν]` is the filter `g` transformed
//!    **at compile time** (in f64) and stored with the weights;
//! 3. output transform (main kernel): `Y = Aᵀ M A` per tile, plus bias and the fused
//!    epilogue, written to the output (output sizes that are not a multiple of m drop the
//!    tile's extra rows or columns).
//!
//! The transforms are built from the variant's constant matrices ([`lincomb`] skips
//! zeros and turns ±1 into adds). Input tiles whose patch lies inside the image run
//! without bounds checks (the vectorizable interior); border tiles read through clamped
//! indices and zero the padding. Numerics: F(2×2) only adds, subtracts and halves;
//! F(4×4) scales by up to 8 and 1/24, a few more ulp of the sums (the model tests hold
//! resnet18/50 to the framework's references like every other path).

use super::conv::Geometry;
use super::fused::AnchorTail;
use super::tiled_gemm::{BLayout, CLayout, TileShape, TiledGemm};
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{Access, BufId, LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::Fused;

/// Output tiles (per image) from which F(2×2) Winograd pays: fewer and the products are
/// too narrow for the tiled GEMM to run near peak.
pub(super) const MIN_TILES: u64 = 16;
/// Channels (in and out) from which Winograd pays: the transforms cost O(C + M) per tile
/// against O(C·M) for the products.
pub(super) const MIN_CHANNELS: u64 = 16;

/// One Winograd algorithm F(m×m, 3×3): `m×m` outputs from an `α×α` input patch
/// (`α = m + 2`) with `α²` products, through the transform matrices `Bᵀ` (α×α),
/// `G` (α×3) and `Aᵀ` (m×α).
#[derive(Debug)]
pub(super) struct Variant {
    pub m: usize,
    pub alpha: usize,
    /// Output tiles per image from which this variant is chosen.
    min_tiles: u64,
    bt: &'static [&'static [f64]],
    g: &'static [&'static [f64]],
    at: &'static [&'static [f64]],
}

/// F(2×2, 3×3), interpolation points 0, ±1: 16 products per 4 outputs (2.25x fewer than
/// direct), transforms that only add, subtract and halve.
pub(super) const F2X3: Variant = Variant {
    m: 2,
    alpha: 4,
    min_tiles: MIN_TILES,
    bt: &[
        &[1.0, 0.0, -1.0, 0.0],
        &[0.0, 1.0, 1.0, 0.0],
        &[0.0, -1.0, 1.0, 0.0],
        &[0.0, 1.0, 0.0, -1.0],
    ],
    g: &[
        &[1.0, 0.0, 0.0],
        &[0.5, 0.5, 0.5],
        &[0.5, -0.5, 0.5],
        &[0.0, 0.0, 1.0],
    ],
    at: &[&[1.0, 1.0, 1.0, 0.0], &[0.0, 1.0, -1.0, -1.0]],
};

/// F(4×4, 3×3), points 0, ±1, ±2 (Lavin & Gray): 36 products per 16 outputs (4x fewer
/// than direct, 1.8x fewer than F(2×2)), and each input pixel is transformed for 2.25
/// tiles instead of 4. Its transforms scale by up to 8 and 1/24, so sums carry a few
/// more ulp than F(2×2) (the model tests hold resnet to the references).
pub(super) const F4X3: Variant = Variant {
    m: 4,
    alpha: 6,
    // From 28×28 outputs (7×7 tiles): on 14×14 nearly every 6×6 patch overlaps the
    // padding and takes the bounds-checked path, and the 16 columns of each product are
    // too few; there F(2×2) is as fast (measured: 3×3 256→256 at 14×14, 1.23 vs 1.25 ms;
    // at 28×28 F(4×4) 0.81 vs 1.09 ms, at 56×56 1.08 vs 1.59 ms).
    min_tiles: 49,
    bt: &[
        &[4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        &[0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        &[0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        &[0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        &[0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        &[0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ],
    g: &[
        &[1.0 / 4.0, 0.0, 0.0],
        &[-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        &[-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        &[1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        &[1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        &[0.0, 0.0, 1.0],
    ],
    at: &[
        &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        &[0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
        &[0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
        &[0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
    ],
};

impl Variant {
    /// Output tiles per image.
    fn tiles(&self, g: &Geometry) -> (i64, i64) {
        let m = self.m as i64;
        ((g.oh + m - 1) / m, (g.ow + m - 1) / m)
    }

    /// `G g Gᵀ` for one 3×3 filter, row-major α×α (computed in f64).
    fn filter_transform(&self, g: &[f32]) -> Vec<f32> {
        let a = self.alpha;
        let mut gg = vec![[0f64; 3]; a]; // G g
        for (i, row) in gg.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|k| self.g[i][k] * f64::from(g[k * 3 + j])).sum();
            }
        }
        let mut u = vec![0f32; a * a];
        for i in 0..a {
            for j in 0..a {
                u[i * a + j] = (0..3).map(|k| gg[i][k] * self.g[j][k]).sum::<f64>() as f32;
            }
        }
        u
    }

    /// `Bᵀ d B` of an α×α patch given as α² values (row-major), as α² expressions.
    fn input_transform(&self, d: &[Expr]) -> Vec<Expr> {
        let a = self.alpha;
        // t = Bᵀ d, then t B = (B_row · t_row).
        let t: Vec<Expr> = (0..a * a)
            .map(|x| {
                let (i, l) = (x / a, x % a);
                lincomb(self.bt[i], |k| d[k * a + l].clone())
            })
            .collect();
        (0..a * a)
            .map(|x| {
                let (i, j) = (x / a, x % a);
                lincomb(self.bt[j], |l| t[i * a + l].clone())
            })
            .collect()
    }

    /// `Aᵀ M A` of an α×α block given as α² values, as the m×m outputs (row-major).
    fn output_transform(&self, mm: &[Expr]) -> Vec<Expr> {
        let (a, m) = (self.alpha, self.m);
        let t: Vec<Expr> = (0..m * a)
            .map(|x| {
                let (i, l) = (x / a, x % a);
                lincomb(self.at[i], |k| mm[k * a + l].clone())
            })
            .collect();
        (0..m * m)
            .map(|x| {
                let (i, j) = (x / m, x % m);
                lincomb(self.at[j], |l| t[i * a + l].clone())
            })
            .collect()
    }
}

/// `Σ c_k · term(k)` over the non-zero constant coefficients `c`, with ±1 as plain adds
/// and subtracts (a zero coefficient must not multiply: `0 · inf` is NaN).
fn lincomb(c: &[f64], term: impl Fn(usize) -> Expr) -> Expr {
    let mut acc: Option<Expr> = None;
    for (k, &ck) in c.iter().enumerate() {
        if ck == 0.0 {
            continue;
        }
        let t = term(k);
        acc = Some(match (acc, ck) {
            (None, 1.0) => t,
            (None, -1.0) => -t,
            (None, _) => Expr::f32(ck as f32) * t,
            (Some(a), 1.0) => a + t,
            (Some(a), -1.0) => a - t,
            (Some(a), _) => Expr::fma(Expr::f32(ck as f32), t, a),
        });
    }
    acc.unwrap_or_else(|| Expr::f32(0.0))
}

/// The variant a convolution runs with, or `None` when Winograd does not apply or pay:
/// F(4×4) when it has enough tiles (`min_tiles`), else F(2×2).
pub(super) fn variant(g: &Geometry, groups: u64, cin: u64, m: u64) -> Option<&'static Variant> {
    let shape_ok = g.kh == 3
        && g.kw == 3
        && (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1)
        && groups == 1
        && cin >= MIN_CHANNELS
        && m >= MIN_CHANNELS;
    if !shape_ok {
        return None;
    }
    [&F4X3, &F2X3].into_iter().find(|v| {
        let (th, tw) = v.tiles(g);
        (th * tw) as u64 >= v.min_tiles
    })
}

pub(super) fn winograd(
    cx: &mut Ctx<'_>,
    fused: Option<&Fused>,
    g: &Geometry,
    wv: &'static Variant,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
) -> Result<(), LowerError> {
    let (n, c, m) = (xd[0] as i64, xd[1] as i64, wd[0] as i64);
    let (a2, tm) = ((wv.alpha * wv.alpha) as i64, wv.m as i64);
    let (th_n, tw_n) = wv.tiles(g);
    // Per image: V[img][ξν][c][tile] and M[img][ξν][m][tile], one GEMM per (img, ξν).
    // Keeping each image's transforms together (rather than one GEMM per ξν over every
    // image's tiles) bounds the pages a transform writes at once to one image's: with
    // batch 8, the α² rows of a tile otherwise lie in α² different pages of a 14 MB
    // buffer, and the input transform ran 20× slower than at batch 1 (TLB misses).
    let per_image = th_n * tw_n;
    let vw = cx.operand(1)?;
    let Some(w) = cx.const_f32(vw) else {
        return cx.err("internal: Winograd needs constant float32 weights");
    };
    // U[ξν][m][c]
    let mut u = vec![0f32; (a2 * m * c) as usize];
    for (f, filter) in w.chunks_exact(9).enumerate() {
        for (x, v) in wv.filter_transform(filter).into_iter().enumerate() {
            u[x * (m * c) as usize + f] = v;
        }
    }
    let v_len = (n * a2 * c * per_image) as u64;
    let m_len = (n * a2 * m * per_image) as u64;

    // Stage 1: input transform.
    let mut st = cx.stage("winograd_in");
    let x = cx.stage_input(&mut st, 0)?;
    let v = st.scratch(0, ScalarType::F32, v_len, Access::Write);
    transform_input(&mut st.b, g, wv, (x, v), (n, c));
    cx.add_stage(st)?;

    // Stage 2: α² products.
    let mut st = cx.stage("winograd_gemm");
    let ub = st.constant("u", &u);
    let vb = st.scratch(0, ScalarType::F32, v_len, Access::Read);
    let mb = st.scratch(1, ScalarType::F32, m_len, Access::Write);
    // GEMM batch bi = img·α² + ξν; U is shared by the images.
    let a_at = |bi: &Expr, row: Expr, k: Expr| {
        let x = if n > 1 {
            bi.clone() % Expr::i64(a2)
        } else {
            bi.clone()
        };
        (x * Expr::i64(m) + row) * Expr::i64(c) + k
    };
    let b_row = |bi: &Expr, k: Expr| (bi.clone() * Expr::i64(c) + k) * Expr::i64(per_image);
    let c_row = |bi: &Expr, row: Expr| (bi.clone() * Expr::i64(m) + row) * Expr::i64(per_image);
    TiledGemm {
        shape: TileShape::for_unit(cx.unit),
        batch: n * a2,
        m,
        n: per_image,
        k: c,
        a: ub,
        a_at: &a_at,
        b: vb,
        b_layout: BLayout::Rows(&b_row),
        c: mb,
        c_layout: CLayout::Rows {
            row: &c_row,
            finish: None,
        },
    }
    .emit(&mut st.b);
    cx.add_stage(st)?;

    // Stage 3 (main): output transform, bias, epilogue.
    let mm = cx.bind_scratch(1, ScalarType::F32, m_len);
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, yd)?;
    let vals: Vec<VarId> = (0..a2)
        .map(|i| cx.b.var(format!("m{i}"), ScalarType::F32))
        .collect();
    cx.b.for_loop("q", 0, n * m, LoopKind::Parallel, |b, q| {
        let img = q.clone() / Expr::i64(m);
        let oc = q.clone() % Expr::i64(m);
        // Writes the valid part (`rows` × `cols`) of tile (th, tw).
        let tile = |b: &mut KernelBuilder, th: Expr, tw: Expr, rows: i64, ncols: i64| {
            let col = th.clone() * Expr::i64(tw_n) + tw.clone();
            for (x, &var) in vals.iter().enumerate() {
                let bi = img.clone() * Expr::i64(a2) + Expr::i64(x as i64);
                let at = (bi * Expr::i64(m) + oc.clone()) * Expr::i64(per_image) + col.clone();
                b.assign(var, Expr::load(mm, at));
            }
            let ms: Vec<Expr> = vals.iter().map(|&v| Expr::var(v)).collect();
            let out = wv.output_transform(&ms);
            for i in 0..rows {
                for j in 0..ncols {
                    let oh = th.clone() * Expr::i64(tm) + Expr::i64(i);
                    let ow = tw.clone() * Expr::i64(tm) + Expr::i64(j);
                    let mut val = out[(i * tm + j) as usize].clone();
                    if let Some(bb) = bias {
                        val = val + Expr::load(bb, oc.clone());
                    }
                    if let Some(e) = &epi {
                        let coords = [img.clone(), oc.clone(), oh.clone(), ow.clone()];
                        val = e.value(b, val, &coords);
                    }
                    let at = (q.clone() * Expr::i64(g.oh) + oh) * Expr::i64(g.ow) + ow;
                    b.store(y, at, val);
                }
            }
        };
        let (full_h, full_w) = (g.oh / tm, g.ow / tm);
        let row = |b: &mut KernelBuilder, th: Expr, rows: i64| {
            b.for_loop("tw", 0, full_w, LoopKind::Vectorize, |b, tw| {
                tile(b, th.clone(), tw, rows, tm);
            });
            if g.ow % tm != 0 {
                tile(b, th, Expr::i64(full_w), rows, g.ow % tm);
            }
        };
        b.for_loop("th", 0, full_h, LoopKind::Serial, |b, th| row(b, th, tm));
        if g.oh % tm != 0 {
            row(b, Expr::i64(full_h), g.oh % tm);
        }
    });
    Ok(())
}

/// Stage 1: `V[img][ξν][c][th·TW + tw] = (Bᵀ d B)[ξ][ν]` for every input tile.
fn transform_input(
    b: &mut KernelBuilder,
    g: &Geometry,
    wv: &Variant,
    (x, v): (BufId, BufId),
    (n, c): (i64, i64),
) {
    let (a, tm) = (wv.alpha as i64, wv.m as i64);
    let (th_n, tw_n) = wv.tiles(g);
    let per_image = th_n * tw_n;
    // Tiles whose α×α patch (rows m·th − ph .. +α) is inside the image.
    let inside = |len: i64, pad: i64, tiles: i64| {
        let lo = (pad + tm - 1) / tm;
        let hi = if len + pad >= a {
            ((len + pad - a) / tm + 1).min(tiles)
        } else {
            0
        };
        if hi <= lo {
            (0, 0)
        } else {
            (lo, hi)
        }
    };
    let (th_lo, th_hi) = inside(g.h, g.ph, th_n);
    let (tw_lo, tw_hi) = inside(g.w, g.pw, tw_n);
    let d: Vec<VarId> = (0..a * a)
        .map(|i| b.var(format!("d{i}"), ScalarType::F32))
        .collect();
    b.for_loop("q", 0, n * c, LoopKind::Parallel, |b, q| {
        let img = q.clone() / Expr::i64(c);
        let ch = q.clone() % Expr::i64(c);
        let plane = q.clone() * Expr::i64(g.h * g.w);
        let tile = |b: &mut KernelBuilder, th: Expr, tw: Expr, checked: bool| {
            for (k, &var) in d.iter().enumerate() {
                let (i, j) = (k as i64 / a, k as i64 % a);
                let ih = th.clone() * Expr::i64(tm) + Expr::i64(i - g.ph);
                let iw = tw.clone() * Expr::i64(tm) + Expr::i64(j - g.pw);
                let val = g.padded_load(x, &plane, (ih, iw), checked);
                b.assign(var, val);
            }
            let ds: Vec<Expr> = d.iter().map(|&v| Expr::var(v)).collect();
            let col = th * Expr::i64(tw_n) + tw;
            for (xi, val) in wv.input_transform(&ds).into_iter().enumerate() {
                let bi = img.clone() * Expr::i64(a * a) + Expr::i64(xi as i64);
                let at = (bi * Expr::i64(c) + ch.clone()) * Expr::i64(per_image) + col.clone();
                b.store(v, at, val);
            }
        };
        let checked_cols = |b: &mut KernelBuilder, th: Expr, lo: i64, hi: i64| {
            if lo < hi {
                b.for_loop("tw", lo, hi, LoopKind::Serial, |b, tw| {
                    tile(b, th.clone(), tw, true)
                });
            }
        };
        let border_rows = |b: &mut KernelBuilder, lo: i64, hi: i64| {
            if lo < hi {
                b.for_loop("th", lo, hi, LoopKind::Serial, |b, th| {
                    checked_cols(b, th, 0, tw_n)
                });
            }
        };
        border_rows(b, 0, th_lo);
        if th_lo < th_hi {
            b.for_loop("th", th_lo, th_hi, LoopKind::Serial, |b, th| {
                checked_cols(b, th.clone(), 0, tw_lo);
                if tw_lo < tw_hi {
                    b.for_loop("tw", tw_lo, tw_hi, LoopKind::Vectorize, |b, tw| {
                        tile(b, th.clone(), tw, false);
                    });
                }
                checked_cols(b, th, tw_hi.max(tw_lo), tw_n);
            });
        }
        border_rows(b, th_hi.max(th_lo), th_n);
    });
}

#[cfg(test)]
mod tests {
    use super::{F2X3, F4X3};

    #[test]
    fn filter_transform_of_a_delta_is_its_column_of_g() {
        // g = δ at the centre: G g Gᵀ = outer(G[:,1], G[:,1]).
        let mut g = [0f32; 9];
        g[4] = 1.0;
        for v in [&F2X3, &F4X3] {
            let a = v.alpha;
            let u = v.filter_transform(&g);
            for i in 0..a {
                for j in 0..a {
                    let want = (v.g[i][1] * v.g[j][1]) as f32;
                    assert_eq!(u[i * a + j], want, "F({}) at {i},{j}", v.m);
                }
            }
        }
    }

    #[test]
    fn transforms_compose_to_a_one_dimensional_correlation() {
        // Aᵀ[(G g) ⊙ (Bᵀ d)] = correlation of d with g, in one dimension, for random data.
        for v in [&F2X3, &F4X3] {
            let (a, m) = (v.alpha, v.m);
            let d: Vec<f64> = (0..a).map(|i| (i as f64 * 0.37).sin()).collect();
            let g = [0.3, -1.2, 0.7];
            let gg: Vec<f64> = (0..a)
                .map(|i| (0..3).map(|k| v.g[i][k] * g[k]).sum())
                .collect();
            let bd: Vec<f64> = (0..a)
                .map(|i| (0..a).map(|k| v.bt[i][k] * d[k]).sum())
                .collect();
            for o in 0..m {
                let got: f64 = (0..a).map(|i| v.at[o][i] * gg[i] * bd[i]).sum();
                let want: f64 = (0..3).map(|k| d[o + k] * g[k]).sum();
                assert!(
                    (got - want).abs() < 1e-12,
                    "F({m}) output {o}: {got} vs {want}"
                );
            }
        }
    }
}
