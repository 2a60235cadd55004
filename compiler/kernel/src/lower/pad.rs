//! Pad: one loop nest over the output; each coordinate maps to its source coordinate by
//! the padding mode (see `neoc_ir::ops::pad` for the definitions).
//!
//! Runs of adjacent axes without padding are merged first (they map one to one), so the
//! common NCHW spatial pad is a loop over `N*C` planes, rows and a contiguous,
//! vectorizable innermost loop. Constant padding loads at a clamped (always in-bounds)
//! index and selects the fill value outside the input.

use super::{fconst, Ctx, LowerError};
use crate::expr::{CmpOp, Expr};
use crate::kernel::LoopKind;
use neoc_ir::ops::pad::wrap_window;
use neoc_ir::ops::{Pad, PadMode};
use neoc_ir::shape::strides;

/// One loop of the nest: input size, output size and the begin/end pads.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    input: u64,
    output: u64,
    begin: i64,
    end: i64,
}

/// The axes with adjacent unpadded ones merged (size-1 unpadded axes dropped).
fn merged_axes(p: &Pad, xd: &[u64], yd: &[u64]) -> Vec<Axis> {
    let mut out: Vec<Axis> = Vec::new();
    for (i, (&d, &o)) in xd.iter().zip(yd).enumerate() {
        let (begin, end) = p.axis_pads(i);
        let plain = begin == 0 && end == 0;
        if plain && d == 1 {
            continue;
        }
        match out.last_mut() {
            Some(a) if plain && a.begin == 0 && a.end == 0 => {
                a.input *= d;
                a.output *= o;
            }
            _ => out.push(Axis {
                input: d,
                output: o,
                begin,
                end,
            }),
        }
    }
    out
}

pub(super) fn pad(cx: &mut Ctx<'_>, p: &Pad) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let (xd, yd) = (cx.dims(vx)?, cx.dims(cx.output(0))?);
    let t = cx.scalar_type(vx)?;
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    if yd.contains(&0) {
        return Ok(());
    }
    let axes = merged_axes(p, &xd, &yd);
    let out_dims: Vec<u64> = axes.iter().map(|a| a.output).collect();
    let in_strides = strides(&axes.iter().map(|a| a.input).collect::<Vec<_>>());
    let out_strides = strides(&out_dims);
    let empty_input = xd.contains(&0);
    let fill = fconst(f64::from(p.value), t);
    let kinds: Vec<LoopKind> = (0..axes.len())
        .map(|i| match i {
            _ if i + 1 == axes.len() => LoopKind::Vectorize,
            0 => LoopKind::Parallel,
            _ => LoopKind::Serial,
        })
        .collect();
    let mode = p.mode;
    cx.b.loop_nest("i", &out_dims, &kinds, |b, iv| {
        let mut src: Option<Expr> = None;
        let mut inside: Option<Expr> = None;
        let mut dst: Option<Expr> = None;
        for ((a, o), (&ist, &ost)) in axes.iter().zip(iv).zip(in_strides.iter().zip(&out_strides)) {
            let d = a.input as i64;
            let s = if a.begin == 0 {
                o.clone()
            } else {
                o.clone() - Expr::i64(a.begin)
            };
            // Only axes that grow need a mode; pure crops stay inside the input.
            let coord = if a.begin <= 0 && a.end <= 0 {
                s
            } else {
                match mode {
                    PadMode::Constant => {
                        let ok = s.clone().ge(Expr::i64(0)).and(s.clone().lt(Expr::i64(d)));
                        inside = Some(match inside.take() {
                            None => ok,
                            Some(e) => e.and(ok),
                        });
                        s.max(Expr::i64(0)).min(Expr::i64(d - 1))
                    }
                    PadMode::Edge => s.max(Expr::i64(0)).min(Expr::i64(d - 1)),
                    PadMode::Reflect => {
                        let r = Expr::select(s.clone().lt(Expr::i64(0)), -s.clone(), s);
                        Expr::select(
                            Expr::cmp(CmpOp::Gt, r.clone(), Expr::i64(d - 1)),
                            Expr::i64(2 * (d - 1)) - r.clone(),
                            r,
                        )
                    }
                    PadMode::Wrap => {
                        let (lo, k) = wrap_window(a.begin, a.end, d);
                        let m = (s - Expr::i64(lo)) % Expr::i64(k);
                        let m = (m + Expr::i64(k)) % Expr::i64(k);
                        m + Expr::i64(lo)
                    }
                }
            };
            let term = |e: Expr, st: u64| if st == 1 { e } else { e * Expr::i64(st as i64) };
            src = Some(match src.take() {
                None => term(coord, ist),
                Some(acc) => acc + term(coord, ist),
            });
            dst = Some(match dst.take() {
                None => term(o.clone(), ost),
                Some(acc) => acc + term(o.clone(), ost),
            });
        }
        let src = src.unwrap_or(Expr::i64(0));
        let dst = dst.unwrap_or(Expr::i64(0));
        let value = if empty_input {
            fill
        } else {
            let v = Expr::load(x, src);
            match inside {
                Some(ok) => Expr::select(ok, v, fill),
                None => v,
            }
        };
        b.store(y, dst, value);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpadded_runs_merge() {
        let p = Pad {
            pads: vec![0, 0, 1, 0, 0, 0, 2, 0],
            mode: PadMode::Constant,
            value: 0.0,
        };
        let axes = merged_axes(&p, &[2, 3, 7, 5], &[2, 3, 10, 5]);
        let sizes: Vec<(u64, u64)> = axes.iter().map(|a| (a.input, a.output)).collect();
        assert_eq!(sizes, vec![(6, 6), (7, 10), (5, 5)]);
    }
}
