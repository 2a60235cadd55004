//! Winograd F(2×2, 3×3) convolution: 3×3, stride 1, undilated, ungrouped.
//!
//! Each 2×2 block of outputs needs 16 multiplications instead of 36 (2.25x fewer), in
//! three stages:
//! 1. input transform (stage kernel): every 4×4 input patch `d` (tiles overlap by 2)
//!    becomes `V = Bᵀ d B`, stored as 16 matrices `V[ξν][c][tile]`;
//! 2. 16 independent products `M[ξν] = U[ξν] · V[ξν]` through the register-tiled GEMM
//!    (stage kernel), where `U[ξν][m][c] = (G g G^T)[ξ][ν]` is the filter `g` transformed
//!    **at compile time** and stored with the weights;
//! 3. output transform (main kernel): `Y = Aᵀ M A` per tile, plus bias and the fused
//!    epilogue, written to the output (odd output sizes drop the tile's extra row or
//!    column).
//!
//! Input tiles whose 4×4 patch lies inside the image run without bounds checks (the
//! vectorizable interior); border tiles read through clamped indices and zero the padding.
//! Numerics: the transforms only add, subtract and halve, so the result differs from a
//! direct convolution by a few ulp of the sums (the model tests hold it to the framework's
//! references like every other path).

use super::conv::Geometry;
use super::fused::AnchorTail;
use super::tiled_gemm::{BLayout, CLayout, TileShape, TiledGemm};
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{Access, BufId, LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::Fused;

/// Output tiles (per image) from which Winograd pays: fewer and the 16 products are too
/// narrow for the tiled GEMM to run near peak.
pub(super) const MIN_TILES: u64 = 16;
/// Channels (in and out) from which Winograd pays: the transforms cost O(C + M) per tile
/// against O(C·M) for the products.
pub(super) const MIN_CHANNELS: u64 = 16;

/// `G g Gᵀ` for one 3×3 filter, row-major 4×4.
fn filter_transform(g: &[f32]) -> [f32; 16] {
    const G: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut gg = [[0f32; 3]; 4]; // G g
    for (i, row) in gg.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| G[i][k] * g[k * 3 + j]).sum();
        }
    }
    let mut u = [0f32; 16];
    for i in 0..4 {
        for j in 0..4 {
            u[i * 4 + j] = (0..3).map(|k| gg[i][k] * G[j][k]).sum();
        }
    }
    u
}

/// `Bᵀ d B` of a 4×4 patch given as 16 values (row-major), as 16 expressions.
fn input_transform(d: &[Expr]) -> Vec<Expr> {
    let at = |i: usize, j: usize| d[i * 4 + j].clone();
    // t = Bᵀ d (combine rows), then t B (combine columns).
    let t: Vec<Expr> = (0..4)
        .flat_map(|j| {
            [
                at(0, j) - at(2, j),
                at(1, j) + at(2, j),
                at(2, j) - at(1, j),
                at(1, j) - at(3, j),
            ]
        })
        .collect(); // t[j * 4 + i]
    let t = |i: usize, j: usize| t[j * 4 + i].clone();
    (0..16)
        .map(|x| {
            let (i, j) = (x / 4, x % 4);
            match j {
                0 => t(i, 0) - t(i, 2),
                1 => t(i, 1) + t(i, 2),
                2 => t(i, 2) - t(i, 1),
                _ => t(i, 1) - t(i, 3),
            }
        })
        .collect()
}

/// `Aᵀ m A` of a 4×4 block given as 16 values, as the 2×2 outputs (row-major).
fn output_transform(m: &[Expr]) -> [Expr; 4] {
    let at = |i: usize, j: usize| m[i * 4 + j].clone();
    let s0 = |j: usize| at(0, j) + at(1, j) + at(2, j);
    let s1 = |j: usize| at(1, j) - at(2, j) - at(3, j);
    let row = |s: &dyn Fn(usize) -> Expr| [s(0) + s(1) + s(2), s(1) - s(2) - s(3)];
    let [a, b] = row(&s0);
    let [c, d] = row(&s1);
    [a, b, c, d]
}

/// True when the convolution can run here and is big enough to gain.
pub(super) fn applies(g: &Geometry, groups: u64, cin: u64, m: u64) -> bool {
    let tiles = (g.oh as u64).div_ceil(2) * (g.ow as u64).div_ceil(2);
    g.kh == 3
        && g.kw == 3
        && (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1)
        && groups == 1
        && cin >= MIN_CHANNELS
        && m >= MIN_CHANNELS
        && tiles >= MIN_TILES
}

pub(super) fn winograd(
    cx: &mut Ctx<'_>,
    fused: Option<&Fused>,
    g: &Geometry,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
) -> Result<(), LowerError> {
    let (n, c, m) = (xd[0] as i64, xd[1] as i64, wd[0] as i64);
    let (th_n, tw_n) = ((g.oh + 1) / 2, (g.ow + 1) / 2);
    let per_image = th_n * tw_n;
    let cols = n * per_image;
    let vw = cx.operand(1)?;
    let Some(w) = cx.const_f32(vw) else {
        return cx.err("internal: Winograd needs constant float32 weights");
    };
    // U[ξν][m][c]
    let mut u = vec![0f32; (16 * m * c) as usize];
    for (f, filter) in w.chunks_exact(9).enumerate() {
        for (x, v) in filter_transform(filter).into_iter().enumerate() {
            u[x * (m * c) as usize + f] = v;
        }
    }
    let v_len = (16 * c * cols) as u64;
    let m_len = (16 * m * cols) as u64;

    // Stage 1: input transform.
    let mut st = cx.stage("winograd_in");
    let x = cx.stage_input(&mut st, 0)?;
    let v = st.scratch(0, ScalarType::F32, v_len, Access::Write);
    transform_input(&mut st.b, g, (x, v), (n, c, cols));
    cx.add_stage(st)?;

    // Stage 2: 16 products.
    let mut st = cx.stage("winograd_gemm");
    let ub = st.constant("u", &u);
    let vb = st.scratch(0, ScalarType::F32, v_len, Access::Read);
    let mb = st.scratch(1, ScalarType::F32, m_len, Access::Write);
    let a_at = |bi: &Expr, row: Expr, k: Expr| (bi.clone() * Expr::i64(m) + row) * Expr::i64(c) + k;
    let b_row = |bi: &Expr, k: Expr| (bi.clone() * Expr::i64(c) + k) * Expr::i64(cols);
    let c_row = |bi: &Expr, row: Expr| (bi.clone() * Expr::i64(m) + row) * Expr::i64(cols);
    TiledGemm {
        shape: TileShape::for_unit(cx.unit),
        batch: 16,
        m,
        n: cols,
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
    let vals: Vec<VarId> = (0..16)
        .map(|i| cx.b.var(format!("m{i}"), ScalarType::F32))
        .collect();
    cx.b.for_loop("q", 0, n * m, LoopKind::Parallel, |b, q| {
        let img = q.clone() / Expr::i64(m);
        let oc = q.clone() % Expr::i64(m);
        // Writes the valid part (`rows` × `cols`) of tile (th, tw).
        let tile = |b: &mut KernelBuilder, th: Expr, tw: Expr, rows: i64, ncols: i64| {
            let col =
                img.clone() * Expr::i64(per_image) + th.clone() * Expr::i64(tw_n) + tw.clone();
            for (x, &var) in vals.iter().enumerate() {
                let at = (Expr::i64(x as i64) * Expr::i64(m) + oc.clone()) * Expr::i64(cols)
                    + col.clone();
                b.assign(var, Expr::load(mm, at));
            }
            let ms: Vec<Expr> = vals.iter().map(|&v| Expr::var(v)).collect();
            let out = output_transform(&ms);
            for i in 0..rows {
                for j in 0..ncols {
                    let oh = th.clone() * Expr::i64(2) + Expr::i64(i);
                    let ow = tw.clone() * Expr::i64(2) + Expr::i64(j);
                    let mut val = out[(i * 2 + j) as usize].clone();
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
        let (full_h, full_w) = (g.oh / 2, g.ow / 2);
        let row = |b: &mut KernelBuilder, th: Expr, rows: i64| {
            b.for_loop("tw", 0, full_w, LoopKind::Vectorize, |b, tw| {
                tile(b, th.clone(), tw, rows, 2);
            });
            if g.ow % 2 == 1 {
                tile(b, th, Expr::i64(full_w), rows, 1);
            }
        };
        b.for_loop("th", 0, full_h, LoopKind::Serial, |b, th| row(b, th, 2));
        if g.oh % 2 == 1 {
            row(b, Expr::i64(full_h), 1);
        }
    });
    Ok(())
}

/// Stage 1: `V[ξν][c][img·T + th·TW + tw] = (Bᵀ d B)[ξ][ν]` for every input tile.
fn transform_input(
    b: &mut KernelBuilder,
    g: &Geometry,
    (x, v): (BufId, BufId),
    (n, c, cols): (i64, i64, i64),
) {
    let (th_n, tw_n) = ((g.oh + 1) / 2, (g.ow + 1) / 2);
    let per_image = th_n * tw_n;
    // Tiles whose 4×4 patch (rows 2·th − ph .. +4) is inside the image.
    let inside = |len: i64, pad: i64, tiles: i64| {
        let lo = (pad + 1) / 2;
        let hi = if len + pad >= 4 {
            ((len + pad - 4) / 2 + 1).min(tiles)
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
    let d: Vec<VarId> = (0..16)
        .map(|i| b.var(format!("d{i}"), ScalarType::F32))
        .collect();
    b.for_loop("q", 0, n * c, LoopKind::Parallel, |b, q| {
        let img = q.clone() / Expr::i64(c);
        let ch = q.clone() % Expr::i64(c);
        let plane = q.clone() * Expr::i64(g.h * g.w);
        let tile = |b: &mut KernelBuilder, th: Expr, tw: Expr, checked: bool| {
            for (k, &var) in d.iter().enumerate() {
                let (i, j) = ((k / 4) as i64, (k % 4) as i64);
                let ih = th.clone() * Expr::i64(2) + Expr::i64(i - g.ph);
                let iw = tw.clone() * Expr::i64(2) + Expr::i64(j - g.pw);
                let val = g.padded_load(x, &plane, (ih, iw), checked);
                b.assign(var, val);
            }
            let ds: Vec<Expr> = d.iter().map(|&v| Expr::var(v)).collect();
            let col = img.clone() * Expr::i64(per_image) + th * Expr::i64(tw_n) + tw;
            for (xi, val) in input_transform(&ds).into_iter().enumerate() {
                let at = (Expr::i64(xi as i64) * Expr::i64(c) + ch.clone()) * Expr::i64(cols)
                    + col.clone();
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
    use super::filter_transform;

    #[test]
    fn filter_transform_of_a_delta_is_its_column_of_g() {
        // g = δ at the centre: G g Gᵀ = outer(G[:,1], G[:,1]).
        let mut g = [0f32; 9];
        g[4] = 1.0;
        let col = [0.0, 0.5, -0.5, 0.0];
        let u = filter_transform(&g);
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(u[i * 4 + j], col[i] * col[j]);
            }
        }
    }
}
