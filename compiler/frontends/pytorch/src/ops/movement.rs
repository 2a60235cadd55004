//! Views and data movement: reshapes, permutations, slicing, concatenation, splitting,
//! gathers, padding, and the ops that are the identity in inference.
//!
//! torch's views (`view`, `flatten`, `squeeze`, `select`, `expand`, ...) become IR
//! `Reshape`/`Slice`/`Expand` nodes on static shapes; the memory planner makes reshapes
//! free. `contiguous`, `clone`, `detach` and eval-mode dropout add no node at all.
//! Slice bounds follow Python: negative indices count from the end, out-of-range ones
//! clamp. List-returning ops (`split`, `chunk`, `unbind`) return one list value.

use super::call::Call;
use super::elementwise::{coerce, result_type};
use super::{op, AtenOp};
use crate::ops::call::Operand;
use crate::value::Val;
use neoc_ir::ops::movement::resolve_reshape;
use neoc_ir::ops::{Concat, Expand, Gather, GatherElements, Pad, PadMode, Slice, SliceAxis};
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[AtenOp] = &[
    op("view", view, "Reshape; -1 inferred"),
    op("reshape", view, "Reshape; -1 inferred"),
    op("_unsafe_view", view, "Reshape"),
    op("view_copy", view, "Reshape"),
    op("flatten", flatten, "Reshape"),
    op("unflatten", unflatten, "Reshape"),
    op("squeeze", squeeze, "Reshape; dim, dims or all"),
    op("unsqueeze", unsqueeze, "Reshape"),
    op("permute", permute, "Transpose"),
    op("transpose", transpose, "Transpose"),
    op("t", t, "Transpose of a 2-D tensor"),
    op("numpy_T", t_all, "Transpose (reversed dims)"),
    op("expand", expand, "Expand; -1 keeps a dim"),
    op("expand_as", expand_as, "Expand"),
    op("repeat", repeat, "Reshape, Expand, Reshape"),
    op(
        "repeat_interleave",
        repeat_interleave,
        "constant int repeats: Reshape, Expand, Reshape",
    ),
    op("cat", cat, "Concat; dtypes promoted"),
    op("concat", cat, "Concat; dtypes promoted"),
    op("stack", stack, "Reshape each, Concat"),
    op("split", split, "one Slice per piece"),
    op("split_with_sizes", split, "one Slice per piece"),
    op("chunk", chunk, "one Slice per piece"),
    op("unbind", unbind, "Slice and Reshape per element"),
    op("slice", slice, "Python bounds; step > 0"),
    op("select", select, "Slice and Reshape"),
    op("narrow", narrow, "Slice"),
    op("index_select", index_select, "Gather"),
    op(
        "index",
        index,
        "integer index tensors: Gather (one) or GatherND (several)",
    ),
    op("embedding", embedding, "Gather of rows"),
    op("gather", gather, "GatherElements"),
    op("flip", flip, "Slice with step -1"),
    op("constant_pad_nd", constant_pad_nd, "Pad constant"),
    op("pad", pad, "Pad constant, reflect, replicate, circular"),
    op("reflection_pad1d", reflection_pad, "Pad reflect"),
    op("reflection_pad2d", reflection_pad, "Pad reflect"),
    op("replication_pad1d", replication_pad, "Pad edge"),
    op("replication_pad2d", replication_pad, "Pad edge"),
    op("contiguous", identity, "no node"),
    op("clone", identity, "no node"),
    op("detach", identity, "no node"),
    op("alias", identity, "no node"),
    op("lift_fresh_copy", identity, "no node"),
    op("dropout", dropout, "train=False: no node"),
    op("feature_dropout", dropout, "train=False: no node"),
    op("alpha_dropout", dropout, "train=False: no node"),
    op(
        "native_dropout",
        dropout,
        "train=False: no node; the mask output is not produced",
    ),
];

fn one(v: ValueId) -> Result<Vec<Val>, IrError> {
    Ok(vec![Val::Tensor(v)])
}

fn identity(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    one(c.tensor(0, "self")?)
}

/// `dropout(input, p, train)`: inference is the identity.
fn dropout(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "input")?;
    let p = c.float(1, "p", 0.5)?;
    if c.bool(2, "train", false)? && p != 0.0 {
        return Err(c.attr_err(
            "dropout in training mode draws random masks; export the model after model.eval()",
        ));
    }
    if c.op == "aten::native_dropout" {
        return Ok(vec![Val::Tensor(x), Val::None]);
    }
    one(x)
}

/// `view(self, size)` / `reshape(self, shape)`.
fn view(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let size = if c.has(1, "size") {
        c.ints(1, "size")?
    } else {
        c.ints(1, "shape")?
    };
    let d = c.dims(x)?;
    let out = resolve_reshape(&d, &size, true).map_err(|e| e.at(c.node, c.op))?;
    one(c.reshape(x, &out)?)
}

fn flatten(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    if d.is_empty() {
        return one(c.reshape(x, &[1])?);
    }
    let s = c.axis(c.int(1, "start_dim", 0)?, d.len())?;
    let e = c.axis(c.int(2, "end_dim", -1)?, d.len())?;
    if s > e {
        return Err(c.attr_err(format!("start_dim {s} is after end_dim {e}")));
    }
    let mut out = d[..s].to_vec();
    out.push(d[s..=e].iter().product());
    out.extend(&d[e + 1..]);
    one(c.reshape(x, &out)?)
}

fn unflatten(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axis = c.axis(c.req_int(1, "dim")?, d.len())?;
    let sizes = c.ints(2, "sizes")?;
    let part = resolve_reshape(&[d[axis]], &sizes, true).map_err(|e| e.at(c.node, c.op))?;
    let mut out = d[..axis].to_vec();
    out.extend(part);
    out.extend(&d[axis + 1..]);
    one(c.reshape(x, &out)?)
}

fn squeeze(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axes: Vec<usize> = match c.opt_ints(1, "dim")? {
        Some(dims) => dims
            .iter()
            .map(|&a| c.axis(a, d.len().max(1)))
            .collect::<Result<_, _>>()?,
        None => (0..d.len()).collect(),
    };
    let out: Vec<u64> = d
        .iter()
        .enumerate()
        .filter(|(i, &n)| !(n == 1 && axes.contains(i)))
        .map(|(_, &n)| n)
        .collect();
    one(c.reshape(x, &out)?)
}

fn unsqueeze(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let mut d = c.dims(x)?;
    let axis = c.axis(c.req_int(1, "dim")?, d.len() + 1)?;
    d.insert(axis, 1);
    one(c.reshape(x, &d)?)
}

fn permute(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let r = c.rank(x);
    let perm = c
        .ints(1, "dims")?
        .iter()
        .map(|&a| c.axis(a, r))
        .collect::<Result<Vec<_>, _>>()?;
    one(c.transpose(x, &perm)?)
}

fn transpose(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let r = c.rank(x);
    if r == 0 {
        return one(x);
    }
    let a = c.axis(c.req_int(1, "dim0")?, r)?;
    let b = c.axis(c.req_int(2, "dim1")?, r)?;
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(a, b);
    one(c.transpose(x, &perm)?)
}

fn t(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    match c.rank(x) {
        0 | 1 => one(x),
        2 => one(c.transpose(x, &[1, 0])?),
        r => Err(c.err(format!(
            "t() expects a tensor of rank 2 or less, got rank {r}"
        ))),
    }
}

fn t_all(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let perm: Vec<usize> = (0..c.rank(x)).rev().collect();
    one(c.transpose(x, &perm)?)
}

fn expand_to(c: &mut Call<'_>, x: ValueId, size: &[i64]) -> Result<ValueId, IrError> {
    let d = c.dims(x)?;
    if size.len() < d.len() {
        return Err(c.err(format!("cannot expand {d:?} to fewer dims {size:?}")));
    }
    let off = size.len() - d.len();
    let mut out = Vec::with_capacity(size.len());
    for (i, &s) in size.iter().enumerate() {
        let n = if s == -1 {
            match i.checked_sub(off) {
                Some(j) => d[j],
                None => return Err(c.attr_err("-1 is not allowed for a new leading dim")),
            }
        } else {
            u64::try_from(s).map_err(|_| c.attr_err(format!("size {size:?} is negative")))?
        };
        out.push(n);
    }
    if out == d {
        return Ok(x);
    }
    c.add(Op::Expand(Expand { shape: out }), &[x])
}

fn expand(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let size = c.ints(1, "size")?;
    one(expand_to(c, x, &size)?)
}

fn expand_as(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let o = c.tensor(1, "other")?;
    let size: Vec<i64> = c.dims(o)?.iter().map(|&d| d as i64).collect();
    one(expand_to(c, x, &size)?)
}

/// `repeat(self, repeats)`: tiles, as `[r0, d0, r1, d1, ...]` expanded and merged.
fn repeat(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let reps = c.ints(1, "repeats")?;
    let mut d = c.dims(x)?;
    if reps.len() < d.len() {
        return Err(c.attr_err("repeat needs at least one count per dim"));
    }
    let mut lead = vec![1u64; reps.len() - d.len()];
    lead.extend(&d);
    d = lead;
    let reps = reps
        .iter()
        .map(|&r| u64::try_from(r).map_err(|_| c.attr_err("negative repeat count")))
        .collect::<Result<Vec<_>, _>>()?;
    let inter: Vec<u64> = d.iter().flat_map(|&n| [1, n]).collect();
    let big: Vec<u64> = d.iter().zip(&reps).flat_map(|(&n, &r)| [r, n]).collect();
    let out: Vec<u64> = d
        .iter()
        .zip(&reps)
        .map(|(&n, &r)| n.checked_mul(r).ok_or_else(|| c.err("repeat overflows")))
        .collect::<Result<_, _>>()?;
    let xi = c.reshape(x, &inter)?;
    let e = if inter == big {
        xi
    } else {
        c.add(Op::Expand(Expand { shape: big }), &[xi])?
    };
    one(c.reshape(e, &out)?)
}

/// `repeat_interleave(self, repeats, dim, output_size)` with one repeat count.
fn repeat_interleave(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let mut x = c.tensor(0, "self")?;
    let r = c.req_int(1, "repeats").map_err(|_| {
        c.attr_err("repeat_interleave with per-element repeats (a tensor) is not supported")
    })?;
    let r = u64::try_from(r).map_err(|_| c.attr_err("negative repeats"))?;
    let axis = match c.opt_int(2, "dim")? {
        Some(d) => c.axis(d, c.rank(x).max(1))?,
        None => {
            let n: u64 = c.dims(x)?.iter().product();
            x = c.reshape(x, &[n])?;
            0
        }
    };
    let d = c.dims(x)?;
    let mut inter = d[..=axis].to_vec();
    inter.push(1);
    inter.extend(&d[axis + 1..]);
    let mut big = inter.clone();
    big[axis + 1] = r;
    let mut out = d.clone();
    out[axis] = out[axis]
        .checked_mul(r)
        .ok_or_else(|| c.err("repeat_interleave overflows"))?;
    let xi = c.reshape(x, &inter)?;
    let e = c.add(Op::Expand(Expand { shape: big }), &[xi])?;
    one(c.reshape(e, &out)?)
}

fn cat(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let ts: Vec<ValueId> = c.tensors(0, "tensors")?.into_iter().flatten().collect();
    // torch skips legacy empty 1-D tensors in cat.
    let ts: Vec<ValueId> = ts
        .into_iter()
        .filter(|&t| c.dims(t).map(|d| d != [0]).unwrap_or(true))
        .collect();
    let Some(&first) = ts.first() else {
        return Err(c.err("cat of no tensors"));
    };
    let rank = c.rank(first);
    let axis = c.axis(c.int(1, "dim", 0)?, rank)?;
    if ts.len() == 1 {
        return one(first);
    }
    let ops: Vec<Operand> = ts.iter().map(|&t| Operand::Tensor(t)).collect();
    let to = result_type(c, &ops);
    let vs = coerce(c, &ops, to)?;
    one(c.add(Op::Concat(Concat { axis }), &vs)?)
}

fn stack(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let ts: Vec<ValueId> = c.tensors(0, "tensors")?.into_iter().flatten().collect();
    let Some(&first) = ts.first() else {
        return Err(c.err("stack of no tensors"));
    };
    let d = c.dims(first)?;
    let axis = c.axis(c.int(1, "dim", 0)?, d.len() + 1)?;
    let mut shape = d.clone();
    shape.insert(axis, 1);
    let mut parts = Vec::with_capacity(ts.len());
    for &t in &ts {
        parts.push(c.reshape(t, &shape)?);
    }
    if parts.len() == 1 {
        return one(parts[0]);
    }
    one(c.add(Op::Concat(Concat { axis }), &parts)?)
}

fn slice_axis(
    c: &mut Call<'_>,
    x: ValueId,
    axis: usize,
    start: i64,
    end: i64,
) -> Result<ValueId, IrError> {
    let (s, e) = (u64::try_from(start), u64::try_from(end));
    match (s, e) {
        (Ok(s), Ok(e)) => c.slice1(x, axis, s, e),
        _ => Err(c.err(format!("slice {start}..{end} is out of range"))),
    }
}

/// Pieces of `sizes` along `axis`, as a list value.
fn pieces(c: &mut Call<'_>, x: ValueId, axis: usize, sizes: &[u64]) -> Result<Vec<Val>, IrError> {
    let n = c.dims(x)?[axis];
    c.check_pieces(sizes.len() as u64, "pieces")?;
    if sizes.iter().try_fold(0u64, |a, &s| a.checked_add(s)) != Some(n) {
        return Err(c.err(format!("split sizes {sizes:?} do not add up to {n}")));
    }
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0u64;
    for &s in sizes {
        let v = if sizes.len() == 1 {
            x
        } else {
            slice_axis(c, x, axis, start as i64, (start + s) as i64)?
        };
        out.push(Val::Tensor(v));
        start += s;
    }
    Ok(vec![Val::List(out)])
}

/// `split(self, split_size, dim)` (an int or a list) and `split_with_sizes`.
fn split(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axis = c.axis(c.int(2, "dim", 0)?, d.len())?;
    let n = d[axis];
    let key = if c.has(1, "split_size") {
        "split_size"
    } else {
        "split_sizes"
    };
    let sizes: Vec<u64> = match c.get(1, key) {
        Some(Val::List(_)) => c
            .ints(1, key)?
            .iter()
            .map(|&s| u64::try_from(s).map_err(|_| c.attr_err("negative split size")))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            let s = u64::try_from(c.req_int(1, key)?)
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| c.attr_err("split size must be positive"))?;
            c.check_pieces(n / s, "pieces")?;
            let mut v = vec![s; (n / s) as usize];
            if n % s != 0 {
                v.push(n % s);
            }
            v
        }
        None => return Err(c.attr_err("argument `split_size` is missing")),
    };
    pieces(c, x, axis, &sizes)
}

fn chunk(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let chunks = c.req_int(1, "chunks")?;
    let axis = c.axis(c.int(2, "dim", 0)?, d.len())?;
    let k = u64::try_from(chunks)
        .ok()
        .filter(|&k| k > 0)
        .ok_or_else(|| c.attr_err("chunks must be positive"))?;
    let n = d[axis];
    let s = n.div_ceil(k).max(1);
    c.check_pieces(n / s, "pieces")?;
    let mut sizes = vec![s; (n / s) as usize];
    if n % s != 0 {
        sizes.push(n % s);
    }
    pieces(c, x, axis, &sizes)
}

fn unbind(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axis = c.axis(c.int(1, "dim", 0)?, d.len())?;
    let mut rest = d.clone();
    rest.remove(axis);
    c.check_pieces(d[axis], "pieces")?;
    let mut out = Vec::new();
    for i in 0..d[axis] {
        let s = slice_axis(c, x, axis, i as i64, i as i64 + 1)?;
        out.push(Val::Tensor(c.reshape(s, &rest)?));
    }
    Ok(vec![Val::List(out)])
}

/// Python slice bounds clamped to `[0, n]`.
fn clamp_bound(v: i64, n: u64) -> i64 {
    let n = n as i64;
    let v = if v < 0 { v.saturating_add(n) } else { v };
    v.clamp(0, n)
}

fn slice(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axis = c.axis(c.int(1, "dim", 0)?, d.len())?;
    let n = d[axis];
    let start = clamp_bound(c.opt_int(2, "start")?.unwrap_or(0), n);
    let end = clamp_bound(c.opt_int(3, "end")?.unwrap_or(i64::MAX), n).max(start);
    let step = c.int(4, "step", 1)?;
    if step < 1 {
        return Err(c.attr_err(format!("slice step {step} must be positive")));
    }
    if start == 0 && end == n as i64 && step == 1 {
        return one(x);
    }
    one(c.add(
        Op::Slice(Slice {
            axes: vec![SliceAxis {
                axis,
                start,
                end,
                step,
            }],
        }),
        &[x],
    )?)
}

fn select(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axis = c.axis(c.req_int(1, "dim")?, d.len())?;
    let i = c.req_int(2, "index")?;
    let n = d[axis] as i64;
    let i = if i < 0 { i + n } else { i };
    if i < 0 || i >= n {
        return Err(c.err(format!("index {i} is out of range for a dim of size {n}")));
    }
    let s = slice_axis(c, x, axis, i, i + 1)?;
    let mut rest = d;
    rest.remove(axis);
    one(c.reshape(s, &rest)?)
}

fn narrow(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let axis = c.axis(c.req_int(1, "dim")?, d.len())?;
    let start = c.req_int(2, "start")?;
    let len = c.req_int(3, "length")?;
    let n = d[axis] as i64;
    let start = if start < 0 { start + n } else { start };
    if start < 0 || len < 0 || start.checked_add(len).is_none_or(|e| e > n) {
        return Err(c.err(format!(
            "narrow({start}, {len}) is out of range for size {n}"
        )));
    }
    one(slice_axis(c, x, axis, start, start + len)?)
}

fn index_select(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let axis = c.axis(c.req_int(1, "dim")?, c.rank(x).max(1))?;
    let idx = c.tensor(2, "index")?;
    one(c.add(Op::Gather(Gather { axis }), &[x, idx])?)
}

/// `index(self, indices)`: advanced indexing with integer index tensors (`None` for
/// dims taken whole). One index tensor is a Gather; several are broadcast, stacked and
/// gathered with GatherND over the indexed dims moved to the front. As in numpy, the
/// indexed result dims replace the indexed dims when those are adjacent, and lead
/// otherwise.
fn index(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let idx = c.tensors(1, "indices")?;
    let given: Vec<(usize, ValueId)> = idx
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .collect();
    if given
        .iter()
        .any(|&(_, t)| c.dtype(t) == neoc_ir::DType::Bool)
    {
        return Err(c.attr_err(
            "indexing with a bool mask is not supported (its result shape depends on the data)",
        ));
    }
    let d = c.dims(x)?;
    if given.is_empty() || given.iter().any(|&(a, _)| a >= d.len()) {
        return Err(c.attr_err(format!(
            "{} index tensors for a tensor of rank {}",
            idx.len(),
            d.len()
        )));
    }
    if let [(axis, t)] = given[..] {
        return one(c.add(Op::Gather(Gather { axis }), &[x, t])?);
    }
    let axes: Vec<usize> = given.iter().map(|&(a, _)| a).collect();
    let shapes: Vec<Vec<u64>> = given
        .iter()
        .map(|&(_, t)| c.dims(t))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&[u64]> = shapes.iter().map(Vec::as_slice).collect();
    let b = neoc_ir::shape::broadcast_shapes(&refs).map_err(|e| e.at(c.node, c.op))?;
    let mut b1 = b.clone();
    b1.push(1);
    let mut cols = Vec::with_capacity(given.len());
    for &(_, t) in &given {
        let t = c.cast(t, neoc_ir::DType::I64)?;
        let e = if c.dims(t)? == b {
            t
        } else {
            c.add(Op::Expand(Expand { shape: b.clone() }), &[t])?
        };
        cols.push(c.reshape(e, &b1)?);
    }
    let stacked = c.add(Op::Concat(Concat { axis: b.len() }), &cols)?;
    let rest: Vec<usize> = (0..d.len()).filter(|a| !axes.contains(a)).collect();
    let perm: Vec<usize> = axes.iter().chain(&rest).copied().collect();
    let xt = c.transpose(x, &perm)?;
    let g = c.add(
        Op::GatherNd(neoc_ir::ops::GatherNd { batch_dims: 0 }),
        &[xt, stacked],
    )?;
    // g is [b..., rest...]; adjacent indexed dims go back where they were.
    let adjacent = axes.windows(2).all(|w| w[1] == w[0] + 1);
    if !adjacent || axes[0] == 0 {
        return one(g);
    }
    let nb = b.len();
    let before = rest.iter().filter(|&&a| a < axes[0]).count();
    let mut out_perm: Vec<usize> = (nb..nb + before).collect();
    out_perm.extend(0..nb);
    out_perm.extend(nb + before..nb + rest.len());
    one(c.transpose(g, &out_perm)?)
}

fn embedding(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let w = c.tensor(0, "weight")?;
    let idx = c.tensor(1, "indices")?;
    one(c.add(Op::Gather(Gather { axis: 0 }), &[w, idx])?)
}

fn gather(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let axis = c.axis(c.req_int(1, "dim")?, c.rank(x).max(1))?;
    let idx = c.tensor(2, "index")?;
    one(c.add(Op::GatherElements(GatherElements { axis }), &[x, idx])?)
}

fn flip(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let d = c.dims(x)?;
    let mut axes = Vec::new();
    for a in c.ints(1, "dims")? {
        let axis = c.axis(a, d.len())?;
        if d[axis] > 1 && !axes.iter().any(|s: &SliceAxis| s.axis == axis) {
            axes.push(SliceAxis {
                axis,
                start: d[axis] as i64 - 1,
                end: -1,
                step: -1,
            });
        }
    }
    if axes.is_empty() {
        return one(x);
    }
    axes.sort_by_key(|a| a.axis);
    one(c.add(Op::Slice(Slice { axes }), &[x])?)
}

/// IR pads (`[begins..., ends...]`, full rank) from torch's `pad` list, which pairs
/// (begin, end) from the last dim backwards.
fn ir_pads(c: &Call<'_>, rank: usize, pad: &[i64]) -> Result<Vec<i64>, IrError> {
    if !pad.len().is_multiple_of(2) || pad.len() / 2 > rank {
        return Err(c.attr_err(format!("pad {pad:?} does not fit a tensor of rank {rank}")));
    }
    let mut out = vec![0i64; 2 * rank];
    for (j, p) in pad.chunks(2).enumerate() {
        let axis = rank - 1 - j;
        out[axis] = p[0];
        out[rank + axis] = p[1];
    }
    Ok(out)
}

fn pad_with(
    c: &mut Call<'_>,
    mode: PadMode,
    value: f64,
    pad_at: (usize, &str),
) -> Result<Vec<Val>, IrError> {
    let x = c.tensor(0, "self")?;
    let p = c.ints(pad_at.0, pad_at.1)?;
    let pads = ir_pads(c, c.rank(x), &p)?;
    if pads.iter().all(|&p| p == 0) {
        return one(x);
    }
    one(c.add(
        Op::Pad(Pad {
            pads,
            mode,
            value: value as f32,
        }),
        &[x],
    )?)
}

fn constant_pad_nd(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let v = c.float(2, "value", 0.0)?;
    pad_with(c, PadMode::Constant, v, (1, "pad"))
}

fn pad(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    let mode = match c.string(2, "mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "replicate" => PadMode::Edge,
        "circular" => PadMode::Wrap,
        other => return Err(c.attr_err(format!("pad mode `{other}` is unknown"))),
    };
    let v = c.float(3, "value", 0.0)?;
    pad_with(c, mode, v, (1, "pad"))
}

fn reflection_pad(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    pad_with(c, PadMode::Reflect, 0.0, (1, "padding"))
}

fn replication_pad(c: &mut Call<'_>) -> Result<Vec<Val>, IrError> {
    pad_with(c, PadMode::Edge, 0.0, (1, "padding"))
}
