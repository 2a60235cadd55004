//! GridSample: parallel over (image, channel) planes, one output point at a time.
//!
//! Per point and spatial dim the kernel computes the sampling coordinate exactly as the
//! IR's reference (`neoc_ir::ops::grid_sample`): unnormalize, round for `nearest`,
//! clamp or reflect when outside the border; then the first tap index and the 1, 2 or
//! 4 tap weights, and every tap index under the padding rule. The `taps^k` products are
//! unrolled at compile time (at most 64, for cubic 3-D sampling); a tap that falls in
//! `zeros` padding reads a clamped (valid) index and contributes 0.

use super::{fconst, Ctx, LowerError};
use crate::expr::{Expr, UnaryOp};
use crate::kernel::{LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::{GridMode, GridPadding, GridSample};
use neoc_ir::shape::strides;

/// `x` reflected into `[lo, hi]` (the reference's `reflect`), as an expression of type `t`.
fn reflect(b: &mut KernelBuilder, x: Expr, (lo, hi): (f64, f64), t: ScalarType) -> Expr {
    let c = |v: f64| fconst(v, t);
    let range = hi - lo;
    let xv = b.var("rx", t);
    b.assign(xv, x);
    let x = Expr::var(xv);
    // Distance past the border, folded by the range; odd folds come back from the other side.
    let fold = |b: &mut KernelBuilder, d: Expr, name: &str| {
        let dv = b.var(name, t);
        b.assign(dv, d);
        let n = Expr::unary(UnaryOp::Floor, Expr::var(dv) / c(range));
        let r = Expr::var(dv) - n.clone() * c(range);
        let odd = Expr::cmp(
            crate::expr::CmpOp::Ne,
            n.clone() - Expr::unary(UnaryOp::Floor, n / c(2.0)) * c(2.0),
            c(0.0),
        );
        (r, odd)
    };
    let (r_lo, odd_lo) = fold(b, c(lo) - x.clone(), "dlo");
    let (r_hi, odd_hi) = fold(b, x.clone() - c(hi), "dhi");
    let below = Expr::select(odd_lo, c(hi) - r_lo.clone(), c(lo) + r_lo);
    let above = Expr::select(odd_hi, c(lo) + r_hi.clone(), c(hi) - r_hi);
    Expr::select(
        x.clone().lt(c(lo)),
        below,
        Expr::select(c(hi).lt(x.clone()), above, x),
    )
}

pub(super) fn grid_sample(cx: &mut Ctx<'_>, gs: &GridSample) -> Result<(), LowerError> {
    let (xd, yd) = (cx.dims(cx.operand(0)?)?, cx.dims(cx.output(0))?);
    let t = cx.scalar_type(cx.operand(0)?)?;
    if !t.is_float() {
        return cx.err("GridSample needs float input");
    }
    let k = xd.len() - 2;
    let sp: Vec<u64> = xd[2..].to_vec();
    let xs = strides(&sp);
    let plane: i64 = sp.iter().product::<u64>() as i64;
    let points: i64 = yd[2..].iter().product::<u64>() as i64;
    let channels = xd[1] as i64;
    let x = cx.bind_input(0)?;
    let grid = cx.bind_input(1)?;
    let y = cx.bind_output(0)?;
    let ntaps: usize = match gs.mode {
        GridMode::Nearest => 1,
        GridMode::Linear => 2,
        GridMode::Cubic => 4,
    };
    let c = |v: f64| fconst(v, t);
    // Per dim: the coordinate, its floor, and per tap its weight, index and validity.
    let coord: Vec<VarId> = (0..k).map(|d| cx.b.var(format!("x{d}"), t)).collect();
    let weight: Vec<Vec<VarId>> = (0..k)
        .map(|d| {
            (0..ntaps)
                .map(|j| cx.b.var(format!("w{d}_{j}"), t))
                .collect()
        })
        .collect();
    let index: Vec<Vec<VarId>> = (0..k)
        .map(|d| {
            (0..ntaps)
                .map(|j| cx.b.var(format!("i{d}_{j}"), ScalarType::I64))
                .collect()
        })
        .collect();
    let valid: Vec<Vec<VarId>> = (0..k)
        .map(|d| {
            (0..ntaps)
                .map(|j| cx.b.var(format!("v{d}_{j}"), ScalarType::Bool))
                .collect()
        })
        .collect();
    let acc = cx.b.var("acc", t);
    cx.b.for_loop(
        "nc",
        0,
        xd[0] as i64 * channels,
        LoopKind::Parallel,
        |b, nc| {
            let img = nc.clone() / Expr::i64(channels);
            b.for_loop("p", 0, points, LoopKind::Serial, |b, p| {
                let g_at = (img.clone() * Expr::i64(points) + p.clone()) * Expr::i64(k as i64);
                for d in 0..k {
                    let size = sp[d];
                    // Grid coordinates are innermost-first.
                    let g = Expr::load(grid, g_at.clone() + Expr::i64((k - 1 - d) as i64));
                    let s = size as f64;
                    let mut xv = if gs.align_corners {
                        (g + c(1.0)) * c((s - 1.0) / 2.0)
                    } else {
                        ((g + c(1.0)) * c(s) - c(1.0)) * c(0.5)
                    };
                    if gs.mode == GridMode::Nearest {
                        xv = Expr::unary(UnaryOp::Round, xv);
                    }
                    b.assign(coord[d], xv);
                    let (lo, hi) = gs.borders(size);
                    let cur = Expr::var(coord[d]);
                    let outside = crate::expr::Expr::binary(
                        crate::expr::BinaryOp::Or,
                        cur.clone().lt(c(lo)),
                        c(hi).lt(cur.clone()),
                    );
                    match gs.padding {
                        GridPadding::Border => {
                            let clamped = cur.clone().max(c(0.0)).min(c(s - 1.0));
                            b.assign(coord[d], Expr::select(outside, clamped, cur));
                        }
                        GridPadding::Reflection => {
                            let r = reflect(b, cur, (lo, hi), t);
                            b.assign(coord[d], r);
                        }
                        GridPadding::Zeros => {}
                    }
                    let cur = Expr::var(coord[d]);
                    let first = match gs.mode {
                        GridMode::Nearest => Expr::cast(ScalarType::I64, cur.clone()),
                        GridMode::Linear => {
                            Expr::cast(ScalarType::I64, Expr::unary(UnaryOp::Floor, cur.clone()))
                        }
                        GridMode::Cubic => {
                            Expr::cast(ScalarType::I64, Expr::unary(UnaryOp::Floor, cur.clone()))
                                - Expr::i64(1)
                        }
                    };
                    let frac = cur.clone() - Expr::unary(UnaryOp::Floor, cur);
                    let ws: Vec<Expr> = match gs.mode {
                        GridMode::Nearest => vec![c(1.0)],
                        GridMode::Linear => vec![c(1.0) - frac.clone(), frac],
                        GridMode::Cubic => {
                            let a = -0.75;
                            let far = |v: Expr| {
                                ((c(a) * v.clone() - c(5.0 * a)) * v.clone() + c(8.0 * a)) * v
                                    - c(4.0 * a)
                            };
                            let near = |v: Expr| {
                                (c(a + 2.0) * v.clone() - c(a + 3.0)) * v.clone() * v + c(1.0)
                            };
                            vec![
                                far(frac.clone() + c(1.0)),
                                near(frac.clone()),
                                near(c(1.0) - frac.clone()),
                                far(c(2.0) - frac),
                            ]
                        }
                    };
                    for (j, w) in ws.into_iter().enumerate() {
                        b.assign(weight[d][j], w);
                        let i = first.clone() + Expr::i64(j as i64);
                        let n = size as i64;
                        let clamp = |e: Expr| e.max(Expr::i64(0)).min(Expr::i64(n - 1));
                        let (idx, ok) = match gs.padding {
                            GridPadding::Zeros => (
                                clamp(i.clone()),
                                i.clone().ge(Expr::i64(0)).and(i.lt(Expr::i64(n))),
                            ),
                            GridPadding::Border => (clamp(i), Expr::BConst(true)),
                            GridPadding::Reflection => {
                                let fi = Expr::cast(t, i);
                                let r = reflect(b, fi, (lo, hi), t);
                                (clamp(Expr::cast(ScalarType::I64, r)), Expr::BConst(true))
                            }
                        };
                        b.assign(index[d][j], idx);
                        b.assign(valid[d][j], ok);
                    }
                }
                b.assign(acc, c(0.0));
                let combos = ntaps.pow(k as u32);
                for combo in 0..combos {
                    let mut rest = combo;
                    let mut w: Option<Expr> = None;
                    let mut at = nc.clone() * Expr::i64(plane);
                    let mut ok: Option<Expr> = None;
                    for d in (0..k).rev() {
                        let j = rest % ntaps;
                        rest /= ntaps;
                        let wd = Expr::var(weight[d][j]);
                        w = Some(match w {
                            None => wd,
                            Some(prev) => prev * wd,
                        });
                        at = at + Expr::var(index[d][j]) * Expr::i64(xs[d] as i64);
                        if gs.padding == GridPadding::Zeros {
                            let v = Expr::var(valid[d][j]);
                            ok = Some(match ok {
                                None => v,
                                Some(prev) => prev.and(v),
                            });
                        }
                    }
                    let mut v = Expr::load(x, at);
                    if let Some(ok) = ok {
                        v = Expr::select(ok, v, c(0.0));
                    }
                    let term = w.unwrap_or(c(1.0)) * v;
                    b.assign(acc, Expr::var(acc) + term);
                }
                b.store(y, nc.clone() * Expr::i64(points) + p, Expr::var(acc));
            });
        },
    );
    Ok(())
}
