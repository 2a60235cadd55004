//! Data movement: reshapes, transposes, concatenation, stacking, splitting, tiling,
//! padding, and the pass-through ops (Identity, StopGradient, ...).
//!
//! Shapes, axes and paddings must be constants after folding (the `Shape → StridedSlice
//! → Pack → Reshape` chains of Keras graphs fold on import since shapes are static).
//! `ConcatV2` and `Pad` keep an NCHW operand in NCHW (axis and paddings permuted);
//! the others work on the plain form.

use super::{op, Ctx, TfOp};
use crate::ops::ctx::MAX_PIECES;
use crate::value::{TensorId, Val, TO_NCHW};
use neoc_ir::ops::movement::resolve_reshape;
use neoc_ir::ops::{Concat, Expand, Pad, PadMode, Slice, SliceAxis};
use neoc_ir::shape::normalize_axis;
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[TfOp] = &[
    op("Identity", identity, "no node"),
    op("IdentityN", identity, "no node"),
    op("StopGradient", identity, "no node"),
    op("PreventGradient", identity, "no node"),
    op("Snapshot", identity, "no node"),
    op("EnsureShape", identity, "no node (shapes are static)"),
    op("NoOp", no_op, "no output"),
    op("Reshape", reshape, "shape constant; -1 inferred"),
    op("Squeeze", squeeze, "squeeze_dims, or every 1"),
    op("ExpandDims", expand_dims, "axis constant"),
    op("Transpose", transpose, "perm constant"),
    op("ConcatV2", concat_v2, "axis constant (last input)"),
    op("Concat", concat_v1, "axis constant (first input)"),
    op("Pack", pack, "Reshape each, Concat"),
    op("Unpack", unpack, "one Slice per output"),
    op("Split", split, "split_dim constant; num_split equal pieces"),
    op(
        "SplitV",
        split_v,
        "size_splits and split_dim constant; one -1",
    ),
    op("Tile", tile, "multiples constant; Reshape, Expand, Reshape"),
    op("Pad", pad, "paddings constant"),
    op("PadV2", pad, "paddings and constant_values constant"),
    op("MirrorPad", pad, "REFLECT (SYMMETRIC is refused)"),
];

fn identity(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    (0..c.n_inputs()).map(|i| c.val(i)).collect()
}

fn no_op(_: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    Ok(vec![])
}

/// Normalises axis `a` of a rank-`rank` tensor (an IR error naming the node).
pub(crate) fn axis(c: &Ctx<'_>, a: i64, rank: usize) -> Result<usize, IrError> {
    normalize_axis(a, rank).map_err(|e| e.at(c.name(), c.op()))
}

fn out_reshape(c: &mut Ctx<'_>, x: TensorId, shape: Vec<u64>) -> Result<Vec<Val>, IrError> {
    let v = c.plain(x)?;
    let r = c.reshape(v, shape)?;
    Ok(vec![c.plain_out(r)])
}

fn reshape(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let want = c.const_ints(1, "shape")?;
    let d = c.dims(x)?;
    let shape = resolve_reshape(&d, &want, true).map_err(|e| e.at(c.name(), c.op()))?;
    out_reshape(c, x, shape)
}

fn squeeze(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let listed = c.attr_ints_or_empty("squeeze_dims");
    let axes = listed
        .iter()
        .map(|&a| axis(c, a, d.len()))
        .collect::<Result<Vec<_>, _>>()?;
    for &a in &axes {
        if d[a] != 1 {
            return Err(c.err(format!("cannot squeeze dim {a} of size {}", d[a])));
        }
    }
    let shape: Vec<u64> = d
        .iter()
        .enumerate()
        .filter(|&(i, &n)| {
            !(if axes.is_empty() {
                n == 1
            } else {
                axes.contains(&i)
            })
        })
        .map(|(_, &n)| n)
        .collect();
    out_reshape(c, x, shape)
}

fn expand_dims(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let mut d = c.dims(x)?;
    let a = c.const_int(1, "dim")?;
    let a = axis(c, a, d.len() + 1)?;
    d.insert(a, 1);
    out_reshape(c, x, d)
}

fn transpose(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let rank = c.rank(x)?;
    let perm = c.const_ints(1, "perm")?;
    let perm = perm
        .iter()
        .map(|&p| axis(c, p, rank))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..rank).collect::<Vec<_>>() {
        return Err(c.err(format!("perm {perm:?} is not a permutation of 0..{rank}")));
    }
    let v = c.plain(x)?;
    let t = c.transpose(v, &perm)?;
    Ok(vec![c.plain_out(t)])
}

fn concat(c: &mut Ctx<'_>, ts: &[TensorId], raw_axis: i64) -> Result<Vec<Val>, IrError> {
    let Some(&first) = ts.first() else {
        return Err(c.err("needs at least one value"));
    };
    let rank = c.rank(first)?;
    let a = axis(c, raw_axis, rank)?;
    let mut all4 = rank == 4;
    let mut any_nchw = false;
    for &t in ts {
        all4 &= c.rank(t)? == 4;
        any_nchw |= c.has_nchw(t);
    }
    if all4 && any_nchw {
        let vs = ts
            .iter()
            .map(|&t| c.nchw(t))
            .collect::<Result<Vec<_>, _>>()?;
        let na = TO_NCHW.iter().position(|&p| p == a).unwrap_or(a);
        let v = c.add(Op::Concat(Concat { axis: na }), vs)?;
        return Ok(vec![c.nchw_out(v)]);
    }
    let vs = ts
        .iter()
        .map(|&t| c.plain(t))
        .collect::<Result<Vec<_>, _>>()?;
    if vs.len() == 1 {
        return Ok(vec![c.plain_out(vs[0])]);
    }
    let v = c.add(Op::Concat(Concat { axis: a }), vs)?;
    Ok(vec![c.plain_out(v)])
}

fn concat_v2(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let n = c.n_inputs();
    if n < 2 {
        return Err(c.err("needs values and an axis"));
    }
    let a = c.const_int(n - 1, "axis")?;
    let ts = (0..n - 1)
        .map(|i| c.input(i))
        .collect::<Result<Vec<_>, _>>()?;
    concat(c, &ts, a)
}

fn concat_v1(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let n = c.n_inputs();
    let a = c.const_int(0, "concat_dim")?;
    let ts = (1..n).map(|i| c.input(i)).collect::<Result<Vec<_>, _>>()?;
    concat(c, &ts, a)
}

fn pack(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let ts = (0..c.n_inputs())
        .map(|i| c.input(i))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(&first) = ts.first() else {
        return Err(c.err("needs at least one value"));
    };
    let d = c.dims(first)?;
    let a = axis(c, c.attr_i("axis", 0), d.len() + 1)?;
    let mut shape = d.clone();
    shape.insert(a, 1);
    let mut vs = Vec::with_capacity(ts.len());
    for &t in &ts {
        let v = c.plain(t)?;
        vs.push(c.reshape(v, shape.clone())?);
    }
    let v = if vs.len() == 1 {
        vs[0]
    } else {
        c.add(Op::Concat(Concat { axis: a }), vs)?
    };
    Ok(vec![c.plain_out(v)])
}

/// `len` pieces of `x` along `a` with the given sizes, each optionally with `a` dropped.
fn pieces(
    c: &mut Ctx<'_>,
    x: TensorId,
    a: usize,
    sizes: &[u64],
    drop_axis: bool,
) -> Result<Vec<Val>, IrError> {
    if sizes.len() as u64 > MAX_PIECES {
        return Err(c.err(format!("{} outputs are too many", sizes.len())));
    }
    let d = c.dims(x)?;
    let v = c.plain(x)?;
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0i64;
    for &s in sizes {
        let end = start + s as i64;
        let sl = c.add(
            Op::Slice(Slice {
                axes: vec![SliceAxis {
                    axis: a,
                    start,
                    end,
                    step: 1,
                }],
            }),
            vec![v],
        )?;
        let sl = if drop_axis {
            let mut shape = d.clone();
            shape.remove(a);
            c.reshape(sl, shape)?
        } else {
            sl
        };
        out.push(c.plain_out(sl));
        start = end;
    }
    Ok(out)
}

fn unpack(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let a = axis(c, c.attr_i("axis", 0), d.len())?;
    if d[a] > MAX_PIECES {
        return Err(c.err(format!("{} outputs are too many", d[a])));
    }
    pieces(c, x, a, &vec![1; d[a] as usize], true)
}

fn split(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(1)?;
    let d = c.dims(x)?;
    let a = c.const_int(0, "split_dim")?;
    let a = axis(c, a, d.len())?;
    let n = c.attr_i("num_split", 1);
    let n = u64::try_from(n)
        .ok()
        .filter(|&n| n >= 1 && d[a] % n == 0 && n <= MAX_PIECES)
        .ok_or_else(|| c.attr_err(format!("num_split {n} does not divide dim {a} ({})", d[a])))?;
    pieces(c, x, a, &vec![d[a] / n; n as usize], false)
}

fn split_v(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let sizes = c.const_ints(1, "size_splits")?;
    let a = c.const_int(2, "split_dim")?;
    let a = axis(c, a, d.len())?;
    let known = sizes
        .iter()
        .filter(|&&s| s >= 0)
        .try_fold(0i64, |acc, &s| acc.checked_add(s));
    let unknown = sizes.iter().filter(|&&s| s < 0).count();
    let rest = known.map_or(-1, |k| d[a] as i64 - k);
    if unknown > 1 || rest < 0 || (unknown == 0 && rest != 0) {
        return Err(c.err(format!("size_splits {sizes:?} do not add up to {}", d[a])));
    }
    let sizes: Vec<u64> = sizes
        .iter()
        .map(|&s| if s < 0 { rest as u64 } else { s as u64 })
        .collect();
    pieces(c, x, a, &sizes, false)
}

fn tile(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let m = c.const_ints(1, "multiples")?;
    if m.len() != d.len() || m.iter().any(|&k| k < 0) {
        return Err(c.err(format!("multiples {m:?} do not match rank {}", d.len())));
    }
    let v = c.plain(x)?;
    // [d0, d1] → [1, d0, 1, d1] → expand [m0, d0, m1, d1] → [m0·d0, m1·d1].
    let (mut inter, mut big, mut out) = (vec![], vec![], vec![]);
    for (&n, &k) in d.iter().zip(&m) {
        inter.extend([1, n]);
        big.extend([k as u64, n]);
        out.push(
            (k as u64)
                .checked_mul(n)
                .ok_or_else(|| c.err(format!("multiples {m:?} are too large")))?,
        );
    }
    if neoc_ir::shape::checked_elements(&big).is_none() {
        return Err(c.err(format!("multiples {m:?} are too large")));
    }
    let r = c.reshape(v, inter)?;
    let e = c.add(Op::Expand(Expand { shape: big }), vec![r])?;
    let o = c.reshape(e, out)?;
    Ok(vec![c.plain_out(o)])
}

fn pad(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let rank = c.rank(x)?;
    let p = c.const_ints(1, "paddings")?;
    if p.len() != 2 * rank {
        return Err(c.err(format!("paddings {p:?} must be [{rank}, 2]")));
    }
    let (mode, value) = match c.op() {
        "MirrorPad" => match c.attr_s("mode", "REFLECT").as_str() {
            "REFLECT" => (PadMode::Reflect, 0.0),
            m => {
                return Err(c.attr_err(format!(
                    "MirrorPad mode `{m}` is not supported (REFLECT is)"
                )))
            }
        },
        "PadV2" => {
            let t = c.input(2)?;
            let v = c
                .konst(t)
                .ok_or_else(|| c.not_constant("constant_values"))?
                .to_f64_vec();
            (PadMode::Constant, v.first().copied().unwrap_or(0.0) as f32)
        }
        _ => (PadMode::Constant, 0.0),
    };
    // TF: [[begin, end] per dim]; IR: begins, then ends.
    let order: Vec<usize> = if rank == 4 && c.has_nchw(x) {
        TO_NCHW.to_vec()
    } else {
        (0..rank).collect()
    };
    let mut pads: Vec<i64> = order.iter().map(|&i| p[2 * i]).collect();
    pads.extend(order.iter().map(|&i| p[2 * i + 1]));
    let nchw = rank == 4 && c.has_nchw(x);
    let v: ValueId = if nchw { c.nchw(x)? } else { c.plain(x)? };
    let out = c.add(Op::Pad(Pad { pads, mode, value }), vec![v])?;
    Ok(vec![if nchw {
        c.nchw_out(out)
    } else {
        c.plain_out(out)
    }])
}
