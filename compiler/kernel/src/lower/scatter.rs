//! GatherND, ScatterND and ScatterElements.
//!
//! GatherND runs in parallel over the index tuples, copying one contiguous slice each.
//! The scatters are one serial kernel: copy `data` to the output, then apply the
//! updates in order (so duplicate indices combine, or the last one wins, exactly as the
//! ONNX reference does). Indices are wrapped when negative and clamped into range, so
//! a bad index never reads or writes outside the tensor.

use super::movement::load_index;
use super::{Ctx, LowerError};
use crate::expr::Expr;
use crate::kernel::{BufId, LoopKind, ScalarType, VarId};
use crate::KernelBuilder;
use neoc_ir::ops::{GatherNd, ScatterElements, ScatterNd, ScatterReduction};
use neoc_ir::shape::strides;

/// Element offset of the index tuple `tuple` (`k` entries of `indices` from `at`) into
/// dims `dd[first..first + k]` with element strides `ds`.
fn tuple_offset(
    b: &mut KernelBuilder,
    (indices, idx_t, j): (BufId, ScalarType, VarId),
    at: &Expr,
    (dd, ds, first, k): (&[u64], &[u64], usize, usize),
) -> Expr {
    let mut off = Expr::i64(0);
    for a in 0..k {
        let raw = Expr::load(indices, at.clone() + Expr::i64(a as i64));
        load_index(b, j, raw, (idx_t, dd[first + a] as i64));
        let part = b.var(format!("c{a}"), ScalarType::I64);
        b.assign(part, Expr::var(j) * Expr::i64(ds[first + a] as i64));
        off = off + Expr::var(part);
    }
    off
}

pub(super) fn gather_nd(cx: &mut Ctx<'_>, g: &GatherNd) -> Result<(), LowerError> {
    let (dd, id) = (cx.dims(cx.operand(0)?)?, cx.dims(cx.operand(1)?)?);
    let idx_t = cx.scalar_type(cx.operand(1)?)?;
    let data = cx.bind_input(0)?;
    let indices = cx.bind_input(1)?;
    let y = cx.bind_output(0)?;
    let bd = g.batch_dims;
    let k = id[id.len() - 1] as usize;
    let ds = strides(&dd);
    let slice: i64 = dd[bd + k..].iter().product::<u64>() as i64;
    let batch_stride: i64 = dd[bd..].iter().product::<u64>() as i64;
    let per_batch: i64 = id[bd..id.len() - 1].iter().product::<u64>() as i64;
    let tuples: i64 = id[..id.len() - 1].iter().product::<u64>() as i64;
    let j = cx.b.var("j", ScalarType::I64);
    cx.b.for_loop("q", 0, tuples, LoopKind::Parallel, |b, q| {
        let base = (q.clone() / Expr::i64(per_batch.max(1))) * Expr::i64(batch_stride);
        let at = q.clone() * Expr::i64(k as i64);
        let off = tuple_offset(b, (indices, idx_t, j), &at, (&dd, &ds, bd, k));
        let src = b.var("src", ScalarType::I64);
        b.assign(src, base + off);
        b.for_loop("e", 0, slice, LoopKind::Vectorize, |b, e| {
            let v = Expr::load(data, Expr::var(src) + e.clone());
            b.store(y, q.clone() * Expr::i64(slice) + e, v);
        });
    });
    Ok(())
}

/// `old` combined with `update` by `r`.
fn combine(r: ScatterReduction, old: Expr, update: Expr) -> Expr {
    match r {
        ScatterReduction::None => update,
        ScatterReduction::Add => old + update,
        ScatterReduction::Mul => old * update,
        ScatterReduction::Max => old.max(update),
        ScatterReduction::Min => old.min(update),
    }
}

/// Binds data, indices, updates and the output, and copies data to the output.
fn copy_data(cx: &mut Ctx<'_>) -> Result<(BufId, BufId, BufId), LowerError> {
    let n: i64 = cx.dims(cx.operand(0)?)?.iter().product::<u64>() as i64;
    let data = cx.bind_input(0)?;
    let indices = cx.bind_input(1)?;
    let updates = cx.bind_input(2)?;
    let y = cx.bind_output(0)?;
    cx.b.for_loop("i", 0, n, LoopKind::Vectorize, |b, i| {
        b.store(y, i.clone(), Expr::load(data, i));
    });
    Ok((indices, updates, y))
}

pub(super) fn scatter_nd(cx: &mut Ctx<'_>, s: &ScatterNd) -> Result<(), LowerError> {
    let (dd, id) = (cx.dims(cx.operand(0)?)?, cx.dims(cx.operand(1)?)?);
    let idx_t = cx.scalar_type(cx.operand(1)?)?;
    let (indices, updates, y) = copy_data(cx)?;
    let k = id[id.len() - 1] as usize;
    let ds = strides(&dd);
    let slice: i64 = dd[k..].iter().product::<u64>() as i64;
    let tuples: i64 = id[..id.len() - 1].iter().product::<u64>() as i64;
    let j = cx.b.var("j", ScalarType::I64);
    let dst = cx.b.var("dst", ScalarType::I64);
    cx.b.for_loop("q", 0, tuples, LoopKind::Serial, |b, q| {
        let at = q.clone() * Expr::i64(k as i64);
        let off = tuple_offset(b, (indices, idx_t, j), &at, (&dd, &ds, 0, k));
        b.assign(dst, off);
        b.for_loop("e", 0, slice, LoopKind::Serial, |b, e| {
            let to = Expr::var(dst) + e.clone();
            let upd = Expr::load(updates, q.clone() * Expr::i64(slice) + e);
            let v = combine(s.reduction, Expr::load(y, to.clone()), upd);
            b.store(y, to, v);
        });
    });
    Ok(())
}

pub(super) fn scatter_elements(cx: &mut Ctx<'_>, s: &ScatterElements) -> Result<(), LowerError> {
    let (dd, id) = (cx.dims(cx.operand(0)?)?, cx.dims(cx.operand(1)?)?);
    let idx_t = cx.scalar_type(cx.operand(1)?)?;
    let (indices, updates, y) = copy_data(cx)?;
    let ds = strides(&dd);
    let j = cx.b.var("j", ScalarType::I64);
    let serial = vec![LoopKind::Serial; id.len()];
    cx.b.loop_nest("i", &id, &serial, |b, coords| {
        let flat = crate::builder::linear_index(coords, &id);
        let axis_len = dd[s.axis] as i64;
        load_index(b, j, Expr::load(indices, flat.clone()), (idx_t, axis_len));
        let mut to = Expr::i64(0);
        for (a, c) in coords.iter().enumerate() {
            let coord = if a == s.axis { Expr::var(j) } else { c.clone() };
            to = to + coord * Expr::i64(ds[a] as i64);
        }
        let v = combine(
            s.reduction,
            Expr::load(y, to.clone()),
            Expr::load(updates, flat),
        );
        b.store(y, to, v);
    });
    Ok(())
}
