//! The Reduce family: loops over the output with an inner loop over the reduced elements.
//!
//! Axes are first merged into alternating groups of kept and reduced axes (adjacent
//! axes of the same kind are contiguous, size-1 axes are irrelevant). Then:
//! - when the innermost group is reduced (LayerNorm's last-axis mean, global sums), each
//!   output element gets a scalar accumulator and a serial inner loop over contiguous
//!   input; the outermost kept loop is parallel;
//! - when the innermost group is kept (reducing channels of NCHW, or a leading axis), the
//!   output row is the accumulator: it is initialised, updated by a vectorized loop over
//!   the contiguous kept elements for each reduced position, then finished in place.
//!
//! On GPUs (`gpu::rows::for_gpu`) each output element reducing 4+ `f32` elements gets
//! threads of its own (a block, or part of a warp under 32: `gpu::rows`; their loads are
//! strided when kept axes are innermost), and other reductions a scalar accumulator per output element (one thread
//! each after `gpu::collapse`) — never the in-place rows, which leave a kernel with no
//! leading kept axis on one thread.
//!
//! Accumulation is in the element type (`f32` for `f32` tensors). Max and Min propagate
//! NaN (the kernel IR's `Max`/`Min` do); integer Max/Min start from the type's extremes.

use super::elementwise::strided_index;
use super::{fconst, Ctx, LowerError};
use crate::builder::KernelBuilder;
use crate::expr::{BinaryOp, Expr, UnaryOp};
use crate::kernel::{BufId, LoopKind, ScalarType};
use neoc_ir::ops::{Reduce, ReduceKind};

/// A run of adjacent axes that are all kept or all reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    size: u64,
    reduced: bool,
    /// Input stride of the group's coordinate, in elements.
    in_stride: u64,
    /// Output stride (kept groups only).
    out_stride: u64,
}

/// The alternating groups of `dims` under `mask` (true: reduced).
fn groups(dims: &[u64], mask: &[bool]) -> Vec<Group> {
    let mut gs: Vec<Group> = Vec::new();
    for (&d, &reduced) in dims.iter().zip(mask) {
        if d == 1 {
            continue;
        }
        match gs.last_mut() {
            Some(g) if g.reduced == reduced => g.size *= d,
            _ => gs.push(Group {
                size: d,
                reduced,
                in_stride: 0,
                out_stride: 0,
            }),
        }
    }
    let (mut is, mut os) = (1u64, 1u64);
    for g in gs.iter_mut().rev() {
        g.in_stride = is;
        is *= g.size;
        if !g.reduced {
            g.out_stride = os;
            os *= g.size;
        }
    }
    gs
}

/// `sum(iv[k] * stride(k))` over the given groups and their loop counters.
fn index(gs: &[&Group], iv: &[Expr], stride: impl Fn(&Group) -> u64) -> Expr {
    let strides: Vec<u64> = gs.iter().map(|g| stride(g)).collect();
    strided_index(iv, &strides)
}

/// The reduction's scalar rules for element type `t` over `n` elements.
#[derive(Debug, Clone, Copy)]
struct Rules {
    kind: ReduceKind,
    t: ScalarType,
    n: u64,
}

impl Rules {
    fn init(&self) -> Expr {
        let extreme = |max: bool| match self.t {
            ScalarType::I8 => Expr::IConst(if max { 127 } else { -128 }, self.t),
            ScalarType::U8 => Expr::IConst(if max { 255 } else { 0 }, self.t),
            ScalarType::I32 => Expr::IConst(
                if max {
                    i64::from(i32::MAX)
                } else {
                    i64::from(i32::MIN)
                },
                self.t,
            ),
            ScalarType::I64 => Expr::IConst(if max { i64::MAX } else { i64::MIN }, self.t),
            ScalarType::I16 => Expr::IConst(
                if max {
                    i64::from(i16::MAX)
                } else {
                    i64::from(i16::MIN)
                },
                self.t,
            ),
            ScalarType::U16 => Expr::IConst(if max { i64::from(u16::MAX) } else { 0 }, self.t),
            ScalarType::U32 => Expr::IConst(if max { i64::from(u32::MAX) } else { 0 }, self.t),
            // All ones: u64::MAX in the unsigned reading of the 64 bits.
            ScalarType::U64 => Expr::IConst(if max { -1 } else { 0 }, self.t),
            _ => fconst(
                if max {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                },
                self.t,
            ),
        };
        match self.kind {
            ReduceKind::Max => extreme(false),
            ReduceKind::Min => extreme(true),
            ReduceKind::Prod => fconst(1.0, self.t),
            _ => fconst(0.0, self.t),
        }
    }

    fn step(&self, acc: Expr, x: Expr) -> Expr {
        match self.kind {
            ReduceKind::Sum | ReduceKind::Mean | ReduceKind::LogSum => acc + x,
            ReduceKind::SumSquare | ReduceKind::L2 => acc + x.clone() * x,
            ReduceKind::L1 => acc + Expr::unary(UnaryOp::Abs, x),
            ReduceKind::Prod => acc * x,
            ReduceKind::Max => acc.max(x),
            ReduceKind::Min => acc.min(x),
        }
    }

    /// The result from the accumulator, `None` when it is the accumulator itself.
    fn finish(&self, acc: Expr) -> Option<Expr> {
        match self.kind {
            ReduceKind::Mean => Some(acc / fconst(self.n as f64, self.t)),
            ReduceKind::L2 => Some(acc.sqrt()),
            ReduceKind::LogSum => Some(Expr::unary(UnaryOp::Log, acc)),
            _ => None,
        }
    }
}

pub(super) fn reduce(cx: &mut Ctx<'_>, r: &Reduce) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    if t == ScalarType::Bool || r.kind.float_only() && !t.is_float() {
        return cx.err(format!("{} is not defined for {t}", r.kind.name()));
    }
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let n_out: u64 = cx.dims(cx.output(0))?.iter().product();
    if n_out == 0 {
        return Ok(());
    }
    let mask = r.reduced_mask(xd.len());
    let n: u64 = xd
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(&d, _)| d)
        .product();
    let rules = Rules { kind: r.kind, t, n };
    let gs = groups(&xd, &mask);
    let gpu = crate::gpu::rows::for_gpu(&cx.unit);
    match gs.last() {
        Some(last) if !last.reduced && gs.iter().any(|g| g.reduced) && !gpu => {
            into_output(&mut cx.b, &gs, &rules, x, y);
        }
        _ if crate::gpu::rows::block_per_row(&cx.unit, n, t) => {
            block_per_output(&mut cx.b, &gs, &rules, x, y);
        }
        _ => with_accumulator(&mut cx.b, &gs, &rules, x, y),
    }
    Ok(())
}

/// On a GPU, innermost group reduced: one block per output element, its threads
/// striding over the reduced elements (`gpu::rows`).
fn block_per_output(b: &mut KernelBuilder, gs: &[Group], rules: &Rules, x: BufId, y: BufId) {
    let kept: Vec<&Group> = gs.iter().filter(|g| !g.reduced).collect();
    let red: Vec<&Group> = gs.iter().filter(|g| g.reduced).collect();
    let kept_sizes: Vec<u64> = kept.iter().map(|g| g.size).collect();
    let red_sizes: Vec<u64> = red.iter().map(|g| g.size).collect();
    let r = crate::gpu::rows::Rows::start(b, kept_sizes.iter().product(), rules.n);
    let base = index(
        &kept,
        &super::fused::unflatten(&r.row(), &kept_sizes),
        |g| g.in_stride,
    );
    let acc = b.let_var("acc", rules.t, rules.init());
    r.each(b, |b, i| {
        let src = base
            + index(&red, &super::fused::unflatten(&i, &red_sizes), |g| {
                g.in_stride
            });
        b.assign(acc, rules.step(Expr::var(acc), Expr::load(x, src)));
    });
    // Partial results combine as the accumulator's own operation.
    let combine = match rules.kind {
        ReduceKind::Prod => BinaryOp::Mul,
        ReduceKind::Max => BinaryOp::Max,
        ReduceKind::Min => BinaryOp::Min,
        _ => BinaryOp::Add,
    };
    r.all_reduce(b, combine, acc);
    let v = rules.finish(Expr::var(acc)).unwrap_or(Expr::var(acc));
    // Kept groups are row-major in the output: the block's row is its output index.
    r.first_thread(b, |b| b.store(y, r.row(), v));
}

/// Innermost group reduced (or nothing to reduce): a scalar accumulator per output.
fn with_accumulator(b: &mut KernelBuilder, gs: &[Group], rules: &Rules, x: BufId, y: BufId) {
    let kept: Vec<&Group> = gs.iter().filter(|g| !g.reduced).collect();
    let red: Vec<&Group> = gs.iter().filter(|g| g.reduced).collect();
    let acc = b.var("acc", rules.t);
    let kinds: Vec<LoopKind> = (0..kept.len())
        .map(|i| {
            if i == 0 {
                LoopKind::Parallel
            } else {
                LoopKind::Serial
            }
        })
        .collect();
    let kept_sizes: Vec<u64> = kept.iter().map(|g| g.size).collect();
    let red_sizes: Vec<u64> = red.iter().map(|g| g.size).collect();
    b.loop_nest("o", &kept_sizes, &kinds, |b, ov| {
        let base = index(&kept, ov, |g| g.in_stride);
        let dst = index(&kept, ov, |g| g.out_stride);
        b.assign(acc, rules.init());
        b.loop_nest("r", &red_sizes, &[], |b, rv| {
            let src = base.clone() + index(&red, rv, |g| g.in_stride);
            b.assign(acc, rules.step(Expr::var(acc), Expr::load(x, src)));
        });
        let v = rules.finish(Expr::var(acc)).unwrap_or(Expr::var(acc));
        b.store(y, dst, v);
    });
}

/// Innermost group kept: the output rows accumulate in place, vectorized.
fn into_output(b: &mut KernelBuilder, gs: &[Group], rules: &Rules, x: BufId, y: BufId) {
    // Groups alternate, so at most the first one is a kept group before any reduced
    // one; its blocks of the output are disjoint, so that loop is parallel.
    let (outer, rest) = match gs.split_first() {
        Some((g, rest)) if !g.reduced => (Some(*g), rest),
        _ => (None, gs),
    };
    let rest: Vec<&Group> = rest.iter().collect();
    let block: u64 = rest.iter().filter(|g| !g.reduced).map(|g| g.size).product();
    let body = |b: &mut KernelBuilder, o: Option<Expr>| {
        let (xbase, ybase) = match (&o, outer) {
            (Some(o), Some(g)) => (
                o.clone() * Expr::i64(g.in_stride as i64),
                o.clone() * Expr::i64(g.out_stride as i64),
            ),
            _ => (Expr::i64(0), Expr::i64(0)),
        };
        let at = |j: Expr| ybase.clone() + j;
        b.for_loop("j", 0, block as i64, LoopKind::Vectorize, |b, j| {
            b.store(y, at(j), rules.init());
        });
        let sizes: Vec<u64> = rest.iter().map(|g| g.size).collect();
        let mut kinds = vec![LoopKind::Serial; rest.len()];
        if let Some(k) = kinds.last_mut() {
            *k = LoopKind::Vectorize;
        }
        b.loop_nest("g", &sizes, &kinds, |b, iv| {
            let src = xbase.clone() + index(&rest, iv, |g| g.in_stride);
            // Reduced groups have no output stride: they all add into the same row.
            let dst = at(index(&rest, iv, |g| g.out_stride));
            let v = rules.step(Expr::load(y, dst.clone()), Expr::load(x, src));
            b.store(y, dst, v);
        });
        if rules.finish(Expr::i64(0)).is_some() {
            b.for_loop("j", 0, block as i64, LoopKind::Vectorize, |b, j| {
                let v = Expr::load(y, at(j.clone()));
                if let Some(v) = rules.finish(v) {
                    b.store(y, at(j), v);
                }
            });
        }
    };
    match outer {
        Some(g) => b.for_loop("o", 0, g.size as i64, LoopKind::Parallel, |b, o| {
            body(b, Some(o));
        }),
        None => body(b, None),
    }
}

/// CumSum: parallel over the (outer, inner) lines of the axis, a running sum along it.
pub(super) fn cumsum(cx: &mut Ctx<'_>, c: &neoc_ir::ops::CumSum) -> Result<(), LowerError> {
    let vx = cx.operand(0)?;
    let xd = cx.dims(vx)?;
    let t = cx.scalar_type(vx)?;
    let len = xd[c.axis] as i64;
    let inner: i64 = xd[c.axis + 1..].iter().product::<u64>() as i64;
    let outer: i64 = xd[..c.axis].iter().product::<u64>() as i64;
    let x = cx.bind_input(0)?;
    let y = cx.bind_output(0)?;
    let acc = cx.b.var("acc", t);
    cx.b.for_loop("line", 0, outer * inner, LoopKind::Parallel, |b, line| {
        let o = line.clone() / Expr::i64(inner);
        let i = line % Expr::i64(inner);
        b.assign(acc, super::fconst(0.0, t));
        b.for_loop("k", 0, len, LoopKind::Serial, |b, k| {
            let k = if c.reverse { Expr::i64(len - 1) - k } else { k };
            let at = (o.clone() * Expr::i64(len) + k) * Expr::i64(inner) + i.clone();
            let v = Expr::load(x, at.clone());
            if c.exclusive {
                b.store(y, at, Expr::var(acc));
                b.assign(acc, Expr::var(acc) + v);
            } else {
                b.assign(acc, Expr::var(acc) + v);
                b.store(y, at, Expr::var(acc));
            }
        });
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_alternate_and_skip_unit_axes() {
        // [2,3,1,5,7] reducing axes 1 and 2 (size 1) and 3: kept 2 | reduced 15 | kept 7.
        let gs = groups(&[2, 3, 1, 5, 7], &[false, true, true, true, false]);
        let v: Vec<(u64, bool, u64, u64)> = gs
            .iter()
            .map(|g| (g.size, g.reduced, g.in_stride, g.out_stride))
            .collect();
        assert_eq!(
            v,
            vec![(2, false, 105, 7), (15, true, 7, 0), (7, false, 1, 1)]
        );
    }
}
