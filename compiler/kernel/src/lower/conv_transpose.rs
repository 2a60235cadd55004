//! Transposed convolution (`ConvTranspose`), N-d, grouped, in gather form.
//!
//! Each output element sums, over its group's input channels and the kernel taps, the
//! input element its position maps back to: along each spatial dim `d`, tap `t` reads
//! input position `i = (o + pad_begin − t·dilation) / stride` when that division is
//! exact and `i` is inside the input. The parallel loop runs over (image, output
//! channel); each task owns its output planes, so no two tasks write one element (the
//! scatter form, which adds each input into a window of outputs, would race).
//!
//! The validity test is computed per tap at run time and the load goes through a
//! clamped, always-valid index. This is a correct general schedule, not a fast one:
//! for stride `s` only one tap in `s` per dim contributes, and a decoder-heavy model
//! would want the sub-pixel decomposition into `s^k` ordinary convolutions.

use super::{Ctx, LowerError};
use crate::expr::{CmpOp, Expr};
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::ConvTranspose;
use neoc_ir::shape::strides;

pub(super) fn conv_transpose(cx: &mut Ctx<'_>, c: &ConvTranspose) -> Result<(), LowerError> {
    let (xd, wd, yd) = (
        cx.dims(cx.operand(0)?)?,
        cx.dims(cx.operand(1)?)?,
        cx.dims(cx.output(0))?,
    );
    if cx.scalar_type(cx.operand(0)?)? != ScalarType::F32 {
        return cx.err("only float32 transposed convolution is supported");
    }
    let k = c.kernel.len();
    let x = cx.bind_input(0)?;
    let w = cx.bind_input(1)?;
    let bias = match cx.input(2) {
        Some(_) => Some(cx.bind_input(2)?),
        None => None,
    };
    let y = cx.bind_output(0)?;
    let (n, ch, m) = (xd[0] as i64, xd[1] as i64, yd[1] as i64);
    let g = c.group as i64;
    let (cg, mg) = (ch / g, m / g);
    let in_sp: Vec<i64> = xd[2..].iter().map(|&v| v as i64).collect();
    let out_sp = &yd[2..];
    let out_plane: i64 = out_sp.iter().product::<u64>() as i64;
    let in_plane: i64 = in_sp.iter().product();
    let taps: i64 = wd[2..].iter().product::<u64>() as i64;
    let (out_st, in_st, tap_st) = (strides(out_sp), strides(&xd[2..]), strides(&wd[2..]));
    let acc = cx.b.var("acc", ScalarType::F32);
    cx.b.for_loop("nm", 0, n * m, LoopKind::Parallel, |b, nm| {
        let img = nm.clone() / Expr::i64(m);
        let oc = nm.clone() % Expr::i64(m);
        let grp = oc.clone() / Expr::i64(mg);
        let mi = oc.clone() % Expr::i64(mg);
        b.for_loop("o", 0, out_plane, LoopKind::Serial, |b, o| {
            let init = match bias {
                Some(bb) => Expr::load(bb, oc.clone()),
                None => Expr::f32(0.0),
            };
            b.assign(acc, init);
            b.for_loop("t", 0, taps, LoopKind::Serial, |b, t| {
                // The input offset this tap reads, and whether it reads one at all.
                let mut ok: Option<Expr> = None;
                let mut off = Expr::i64(0);
                for d in 0..k {
                    let od =
                        (o.clone() / Expr::i64(out_st[d] as i64)) % Expr::i64(out_sp[d] as i64);
                    let td =
                        (t.clone() / Expr::i64(tap_st[d] as i64)) % Expr::i64(wd[2 + d] as i64);
                    let pos = od + Expr::i64(c.pads[d]) - td * Expr::i64(c.dilations[d] as i64);
                    let s = c.strides[d] as i64;
                    let here = pos
                        .clone()
                        .ge(Expr::i64(0))
                        .and(pos.clone().lt(Expr::i64(s * in_sp[d])));
                    let here = if s == 1 {
                        here
                    } else {
                        let exact = Expr::cmp(CmpOp::Eq, pos.clone() % Expr::i64(s), Expr::i64(0));
                        here.and(exact)
                    };
                    let i = if s == 1 { pos } else { pos / Expr::i64(s) };
                    off = off + i * Expr::i64(in_st[d] as i64);
                    ok = Some(match ok {
                        None => here,
                        Some(prev) => prev.and(here),
                    });
                }
                let ok = ok.unwrap_or(Expr::BConst(true));
                let safe = Expr::select(ok.clone(), off, Expr::i64(0));
                b.for_loop("ci", 0, cg, LoopKind::Serial, |b, ci| {
                    let chan = grp.clone() * Expr::i64(cg) + ci;
                    let xv = Expr::load(
                        x,
                        (img.clone() * Expr::i64(ch) + chan.clone()) * Expr::i64(in_plane)
                            + safe.clone(),
                    );
                    let wv = Expr::load(
                        w,
                        (chan * Expr::i64(mg) + mi.clone()) * Expr::i64(taps) + t.clone(),
                    );
                    let term = Expr::select(ok.clone(), xv, Expr::f32(0.0));
                    b.assign(acc, Expr::fma(term, wv, Expr::var(acc)));
                });
            });
            b.store(y, nm.clone() * Expr::i64(out_plane) + o, Expr::var(acc));
        });
    });
    Ok(())
}
