//! Resize through per-axis tap tables computed at compile time.
//!
//! [`neoc_ir::ops::resize::Resize::axis_table`] gives, per resized axis and output index,
//! the input indices (already clamped) and weights of its taps; they are stored with the
//! weights as constants. Each output element sums `Π weights · x[indices]` over the tap
//! combinations of the resized axes (untouched axes index the input directly), and takes
//! the extrapolation value where a `tf_crop_and_resize` coordinate leaves the input. The
//! reference interpreter evaluates the same tables, so both agree with the ONNX reference
//! implementation by construction of the tables.

use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{BufId, LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::resize::AxisTable;
use neoc_ir::ops::Resize;

/// A resized axis as the kernel sees it.
struct Axis {
    axis: usize,
    taps: i64,
    index: BufId,
    weight: BufId,
    valid: Option<BufId>,
}

pub(super) fn resize(cx: &mut Ctx<'_>, r: &Resize) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    if cx.scalar_type(vx)? != ScalarType::F32 {
        return cx.err("only float32 Resize is supported");
    }
    let tables: Vec<AxisTable> = xd
        .iter()
        .enumerate()
        .map(|(a, &n)| r.axis_table(a, n))
        .collect();
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let mut axes = Vec::new();
    for (a, t) in tables.iter().enumerate() {
        if t.is_identity() && xd[a] == r.sizes[a] {
            continue;
        }
        let weights: Vec<f32> = t.weight.iter().map(|&w| w as f32).collect();
        let index = cx.bind_constant(&format!("resize_index{a}"), &t.index);
        let weight = cx.bind_constant(&format!("resize_weight{a}"), &weights);
        let valid = (!t.valid.iter().all(|&v| v)).then(|| {
            let v: Vec<f32> = t.valid.iter().map(|&v| f32::from(u8::from(v))).collect();
            cx.bind_constant(&format!("resize_valid{a}"), &v)
        });
        axes.push(Axis {
            axis: a,
            taps: t.taps as i64,
            index,
            weight,
            valid,
        });
    }
    let in_strides = neoc_ir::shape::strides(&xd);
    let out_dims = r.sizes.clone();
    let acc = cx.b.var("acc", ScalarType::F32);
    let w = cx.b.var("w", ScalarType::F32);
    let extrapolation = r.extrapolation;
    let kinds = [LoopKind::Parallel];
    cx.b.loop_nest("o", &out_dims, &kinds, |b, coords| {
        b.assign(acc, Expr::f32(0.0));
        // The input offset of the untouched axes.
        let mut base = Expr::i64(0);
        for (a, c) in coords.iter().enumerate() {
            if !axes.iter().any(|ax| ax.axis == a) && in_strides[a] != 0 {
                base = base + c.clone() * Expr::i64(in_strides[a] as i64);
            }
        }
        taps(
            b,
            &axes,
            coords,
            &in_strides,
            (x, acc, w),
            (base, Expr::f32(1.0)),
        );
        let mut value = Expr::var(acc);
        let valids: Vec<Expr> = axes
            .iter()
            .filter_map(|ax| ax.valid.map(|v| Expr::load(v, coords[ax.axis].clone())))
            .collect();
        if let Some(first) = valids.first() {
            let all = valids[1..].iter().fold(first.clone(), |p, v| p * v.clone());
            value = Expr::select(all.ge(Expr::f32(0.5)), value, Expr::f32(extrapolation));
        }
        let flat = crate::builder::linear_index(coords, &out_dims);
        b.store(y, flat, value);
    });
    Ok(())
}

/// Nested loops over the taps of `axes[0..]`, accumulating `weight · x` into `acc`.
fn taps(
    b: &mut KernelBuilder,
    axes: &[Axis],
    coords: &[Expr],
    in_strides: &[u64],
    (x, acc, w): (BufId, VarId, VarId),
    (offset, weight): (Expr, Expr),
) {
    let Some((ax, rest)) = axes.split_first() else {
        b.assign(w, weight);
        let v = Expr::load(x, offset);
        b.assign(acc, Expr::fma(Expr::var(w), v, Expr::var(acc)));
        return;
    };
    b.for_loop("t", 0, ax.taps, LoopKind::Unroll, |b, t| {
        let k = coords[ax.axis].clone() * Expr::i64(ax.taps) + t;
        let idx = Expr::load(ax.index, k.clone());
        let offset = offset.clone() + idx * Expr::i64(in_strides[ax.axis] as i64);
        let weight = weight.clone() * Expr::load(ax.weight, k);
        taps(b, rest, coords, in_strides, (x, acc, w), (offset, weight));
    });
}
