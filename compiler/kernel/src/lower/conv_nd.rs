//! Convolution of any spatial rank (3-D and above; 1-D and 2-D have the faster
//! schedules of [`super::conv`]), grouped, dilated, padded, with the fused epilogue.
//!
//! Gather form, like [`super::conv_transpose`]: the parallel loop runs over (image,
//! output channel); for each output position (a flat index over the output's spatial
//! dims) the accumulator starts at the bias and adds, over every kernel tap (a flat
//! index over the kernel's dims) and the group's input channels, `w · x[position·stride
//! − pad + tap·dilation]`, zero where that lies in the padding. The validity test is
//! computed per tap and the load goes through a clamped, always-valid index. This is a
//! correct general schedule, not a fast one: volumetric models would want the GEMM
//! (im2col) form of the 2-D path extended to three dims.

use super::fused::AnchorTail;
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{LoopKind, ScalarType};
use neoc_ir::ops::{Conv, Fused};
use neoc_ir::shape::strides;

pub(super) fn conv_nd(
    cx: &mut Ctx<'_>,
    c: &Conv,
    fused: Option<&Fused>,
    (xd, wd, yd): (&[u64], &[u64], &[u64]),
) -> Result<(), LowerError> {
    let k = c.kernel.len();
    if xd.len() != k + 2 || wd.len() != k + 2 || yd.len() != k + 2 {
        return cx.err("convolution operands do not match the kernel rank");
    }
    let x = cx.bind_input(0)?;
    let w = cx.bind_input(1)?;
    let AnchorTail { bias, y, epi } = AnchorTail::bind(cx, fused, yd)?;
    let (n, cin, m) = (xd[0] as i64, xd[1] as i64, wd[0] as i64);
    let groups = c.group as i64;
    let (cg, mg) = (cin / groups, m / groups);
    let (in_sp, out_sp, k_sp) = (&xd[2..], &yd[2..], &wd[2..]);
    let in_plane: i64 = in_sp.iter().product::<u64>() as i64;
    let out_plane: i64 = out_sp.iter().product::<u64>() as i64;
    let taps: i64 = k_sp.iter().product::<u64>() as i64;
    let (in_st, out_st, tap_st) = (strides(in_sp), strides(out_sp), strides(k_sp));
    let acc = cx.b.var("acc", ScalarType::F32);
    cx.b.for_loop("nm", 0, n * m, LoopKind::Parallel, |b, nm| {
        let img = nm.clone() / Expr::i64(m);
        let oc = nm.clone() % Expr::i64(m);
        let group = oc.clone() / Expr::i64(mg);
        b.for_loop("o", 0, out_plane, LoopKind::Serial, |b, o| {
            let init = match bias {
                Some(bb) => Expr::load(bb, oc.clone()),
                None => Expr::f32(0.0),
            };
            b.assign(acc, init);
            b.for_loop("t", 0, taps, LoopKind::Serial, |b, t| {
                let mut ok: Option<Expr> = None;
                let mut off = Expr::i64(0);
                for d in 0..k {
                    let od =
                        (o.clone() / Expr::i64(out_st[d] as i64)) % Expr::i64(out_sp[d] as i64);
                    let td = (t.clone() / Expr::i64(tap_st[d] as i64)) % Expr::i64(k_sp[d] as i64);
                    let pos = od * Expr::i64(c.strides[d] as i64) - Expr::i64(c.pads[d] as i64)
                        + td * Expr::i64(c.dilations[d] as i64);
                    let here = pos
                        .clone()
                        .ge(Expr::i64(0))
                        .and(pos.clone().lt(Expr::i64(in_sp[d] as i64)));
                    off = off + pos * Expr::i64(in_st[d] as i64);
                    ok = Some(match ok {
                        None => here,
                        Some(prev) => prev.and(here),
                    });
                }
                let ok = ok.unwrap_or(Expr::BConst(true));
                let safe = Expr::select(ok.clone(), off, Expr::i64(0));
                b.for_loop("ic", 0, cg, LoopKind::Serial, |b, ic| {
                    let chan = group.clone() * Expr::i64(cg) + ic.clone();
                    let xv = Expr::load(
                        x,
                        (img.clone() * Expr::i64(cin) + chan) * Expr::i64(in_plane) + safe.clone(),
                    );
                    let wv = Expr::load(
                        w,
                        (oc.clone() * Expr::i64(cg) + ic) * Expr::i64(taps) + t.clone(),
                    );
                    let term = Expr::select(ok.clone(), xv, Expr::f32(0.0));
                    b.assign(acc, Expr::fma(term, wv, Expr::var(acc)));
                });
            });
            let mut v = Expr::var(acc);
            if let Some(epi) = &epi {
                let mut coords = vec![img.clone(), oc.clone()];
                coords.extend((0..k).map(|d| {
                    (o.clone() / Expr::i64(out_st[d] as i64)) % Expr::i64(out_sp[d] as i64)
                }));
                v = epi.value(b, v, &coords);
            }
            b.store(y, nm.clone() * Expr::i64(out_plane) + o, v);
        });
    });
    Ok(())
}
