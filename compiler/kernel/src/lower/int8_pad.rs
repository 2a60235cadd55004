//! The pad stage shared by the int8 kernels (GEMM, depthwise, u8 MaxPool): a copy of
//! the u8/i8 activation with zero-point borders in scratch slot 2, so that window loads
//! are affine and vectorize, and the byte widening the kernels read it with. See
//! `docs/quantization.md` ("Kernels").

use super::conv::Geometry;
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{Access, LoopKind, ScalarType};

/// Bytes past the padded copy's last plane that a row may read: [`overrun_width`] lets
/// the pack loop run to a whole vector past a row's end.
pub(super) const PAD_SLACK: i64 = 64;

/// Length of scratch slot 2, the padded copy of `planes` planes of `hp × wp` bytes.
pub(super) fn padded_len(planes: i64, hp: i64, wp: i64) -> u64 {
    (planes * hp * wp + PAD_SLACK) as u64
}

/// Height and width of the padded copy: the begin pads, then enough for every window.
pub(super) fn padded_extent(geo: &Geometry) -> (i64, i64) {
    let hp = geo.ph
        + geo
            .h
            .max((geo.oh - 1) * geo.sh + (geo.kh - 1) * geo.dh + 1 - geo.ph);
    let wp = geo.pw
        + geo
            .w
            .max((geo.ow - 1) * geo.sw + (geo.kw - 1) * geo.dw + 1 - geo.pw);
    (hp, wp)
}

/// The pad stage: scratch slot 2 holds `x` with `ph`/`pw` rows and columns of the zero
/// point before and enough after for every window (`planes` planes of `hp × wp`). The
/// zero point is `zx` (0..=255), or with `zero_input` that node input's run-time scalar
/// (of `x`'s type).
pub(super) fn pad_stage(
    cx: &mut Ctx<'_>,
    geo: &Geometry,
    (planes, hp, wp): (i64, i64, i64),
    (zx, signed): (&Expr, bool),
    zero_input: Option<usize>,
) -> Result<(), LowerError> {
    let mut st = cx.stage("pad");
    let x = cx.stage_input(&mut st, 0)?;
    let z = match zero_input {
        Some(i) => {
            let zb = cx.stage_input(&mut st, i)?;
            Expr::cast(ScalarType::U8, widen(Expr::load(zb, Expr::i64(0)), signed))
        }
        None => Expr::cast(ScalarType::U8, zx.clone()),
    };
    let out = st.scratch(2, ScalarType::U8, padded_len(planes, hp, wp), Access::Write);
    let geo = *geo;
    let b = &mut st.b;
    b.for_loop("pl", 0, planes, LoopKind::Parallel, |b, pl| {
        let base = pl.clone() * Expr::i64(hp * wp);
        let src = pl * Expr::i64(geo.h * geo.w);
        b.for_loop("y", 0, hp, LoopKind::Serial, |b, y| {
            let orow = base.clone() + y.clone() * Expr::i64(wp);
            let iy = y.clone() - Expr::i64(geo.ph);
            let inside = iy
                .clone()
                .ge(Expr::i64(0))
                .and(iy.clone().lt(Expr::i64(geo.h)));
            b.if_else(
                inside,
                |b| {
                    let irow = src.clone() + iy * Expr::i64(geo.w);
                    b.for_loop("x", 0, geo.pw, LoopKind::Vectorize, |b, xx| {
                        b.store(out, orow.clone() + xx, z.clone());
                    });
                    b.for_loop("x", 0, geo.w, LoopKind::Vectorize, |b, xx| {
                        let v = Expr::load(x, irow.clone() + xx.clone());
                        let v = if signed {
                            Expr::cast(ScalarType::U8, widen(v, true))
                        } else {
                            v
                        };
                        b.store(out, orow.clone() + xx + Expr::i64(geo.pw), v);
                    });
                    b.for_loop("x", geo.pw + geo.w, wp, LoopKind::Vectorize, |b, xx| {
                        b.store(out, orow.clone() + xx, z.clone());
                    });
                },
                |b| {
                    b.for_loop("x", 0, wp, LoopKind::Vectorize, |b, xx| {
                        b.store(out, orow.clone() + xx, z.clone());
                    });
                },
            );
        });
    });
    cx.add_stage(st)
}

/// An activation byte as an i32 in 0..=255: u8 as is, i8 shifted by 128.
pub(super) fn widen(byte: Expr, signed: bool) -> Expr {
    let v = Expr::cast(ScalarType::I32, byte);
    if signed {
        v + Expr::IConst(128, ScalarType::I32)
    } else {
        v
    }
}
