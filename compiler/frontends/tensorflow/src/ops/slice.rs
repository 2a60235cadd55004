//! Slicing and gathering: `StridedSlice` (with all five masks), `Slice`, `GatherV2`.
//!
//! `StridedSlice` follows TF's `ValidateStridedSliceOp`: the begin/end/strides
//! "sparse" spec (with an ellipsis, new axes and shrunk axes) is expanded into one
//! range per input dim (an implicit ellipsis at the end covers dims the spec does not
//! name), each range is clamped like Python slicing, and the result is one IR `Slice`
//! and a `Reshape` that drops shrunk dims and inserts new ones.

use super::movement::axis;
use super::{op, Ctx, TfOp};
use crate::value::Val;
use neoc_ir::ops::{Gather, Slice, SliceAxis};
use neoc_ir::{DType, IrError, Op};

pub(crate) const OPS: &[TfOp] = &[
    op(
        "StridedSlice",
        strided_slice,
        "begin/end/strides constant; all masks",
    ),
    op(
        "Slice",
        slice,
        "begin and size constant; size -1 to the end",
    ),
    op("GatherV2", gather_v2, "axis constant; batch_dims 0"),
    op("Gather", gather_v1, "axis 0"),
    op(
        "ResourceGather",
        resource_gather,
        "rows of a variable (axis 0); batch_dims 0",
    ),
];

/// One entry of the dense spec: a range over one input dim, or a shrunk index.
#[derive(Debug, Clone, Copy)]
struct Range {
    begin: Option<i64>,
    end: Option<i64>,
    stride: i64,
    shrink: bool,
}

/// What the output has, in order: an input dim (by index) or a new axis of size 1.
#[derive(Debug, Clone, Copy)]
enum OutDim {
    Input(usize),
    New,
}

fn bit(mask: i64, i: usize) -> bool {
    i < 64 && (mask >> i) & 1 == 1
}

fn strided_slice(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let rank = d.len();
    let begin = c.const_ints(1, "begin")?;
    let end = c.const_ints(2, "end")?;
    let strides = c.const_ints(3, "strides")?;
    let n = begin.len();
    if end.len() != n || strides.len() != n {
        return Err(c.err("begin, end and strides must have the same length"));
    }
    let (bm, em) = (c.attr_i("begin_mask", 0), c.attr_i("end_mask", 0));
    let mut ell = c.attr_i("ellipsis_mask", 0);
    let (nm, sm) = (
        c.attr_i("new_axis_mask", 0),
        c.attr_i("shrink_axis_mask", 0),
    );
    if ell.count_ones() > 1 {
        return Err(c.attr_err("more than one ellipsis"));
    }
    // No ellipsis: one is implied after the last entry.
    let spec_len = if ell == 0 {
        ell = 1i64.checked_shl(n as u32).unwrap_or(0);
        n + 1
    } else {
        n
    };
    let ell_at = (0..spec_len).find(|&i| bit(ell, i));
    let new_after_ellipsis = ell_at.map_or(0, |e| (e + 1..n).filter(|&i| bit(nm, i)).count());
    let mut dense: Vec<Range> = Vec::with_capacity(rank);
    let mut out: Vec<OutDim> = Vec::new();
    for i in 0..spec_len {
        if Some(i) == ell_at {
            let named_after = spec_len - i - 1;
            let next = (rank + new_after_ellipsis)
                .checked_sub(named_after)
                .filter(|&x| x >= dense.len())
                .unwrap_or(dense.len())
                .min(rank);
            while dense.len() < next {
                out.push(OutDim::Input(dense.len()));
                dense.push(Range {
                    begin: None,
                    end: None,
                    stride: 1,
                    shrink: false,
                });
            }
        } else if bit(nm, i) {
            out.push(OutDim::New);
        } else {
            if dense.len() >= rank {
                return Err(c.err(format!(
                    "the slice spec names more dims than the input's rank {rank}"
                )));
            }
            let shrink = bit(sm, i);
            if !shrink {
                out.push(OutDim::Input(dense.len()));
            }
            dense.push(Range {
                begin: (!bit(bm, i)).then_some(begin[i]),
                end: (!bit(em, i)).then_some(end[i]),
                stride: strides[i],
                shrink,
            });
        }
    }
    while dense.len() < rank {
        out.push(OutDim::Input(dense.len()));
        dense.push(Range {
            begin: None,
            end: None,
            stride: 1,
            shrink: false,
        });
    }
    let mut axes = Vec::new();
    let mut in_out_len = Vec::with_capacity(rank);
    for (a, r) in dense.iter().enumerate() {
        let len = d[a] as i64;
        let s = if r.stride == 0 {
            return Err(c.attr_err("a stride is 0"));
        } else {
            r.stride
        };
        let sa = if r.shrink {
            let b = r.begin.unwrap_or(0);
            let b = if b < 0 { b + len } else { b };
            if b < 0 || b >= len {
                return Err(c.err(format!(
                    "index {b} is out of range for dim {a} of size {len}"
                )));
            }
            SliceAxis {
                axis: a,
                start: b,
                end: b + 1,
                step: 1,
            }
        } else {
            let clamp = |v: i64| {
                let v = if v < 0 { v + len } else { v };
                if s > 0 {
                    v.clamp(0, len)
                } else {
                    v.clamp(-1, len - 1)
                }
            };
            let start = r.begin.map_or(if s > 0 { 0 } else { len - 1 }, clamp);
            let stop = r.end.map_or(if s > 0 { len } else { -1 }, clamp);
            SliceAxis {
                axis: a,
                start,
                end: stop,
                step: s,
            }
        };
        in_out_len.push(sa.len());
        if !(sa.start == 0 && sa.step == 1 && sa.end == len) {
            axes.push(sa);
        }
    }
    let shape: Vec<u64> = out
        .iter()
        .map(|o| match o {
            OutDim::Input(a) => in_out_len[*a],
            OutDim::New => 1,
        })
        .collect();
    let mut v = c.plain(x)?;
    if !axes.is_empty() {
        v = c.add(Op::Slice(Slice { axes }), vec![v])?;
    }
    let r = c.reshape(v, shape)?;
    Ok(vec![c.plain_out(r)])
}

fn slice(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let begin = c.const_ints(1, "begin")?;
    let size = c.const_ints(2, "size")?;
    if begin.len() != d.len() || size.len() != d.len() {
        return Err(c.err(format!("begin and size must have {} entries", d.len())));
    }
    let mut axes = Vec::new();
    for (a, (&b, &s)) in begin.iter().zip(&size).enumerate() {
        let len = d[a] as i64;
        let e = if s == -1 { len } else { b.saturating_add(s) };
        if b < 0 || s < -1 || e > len || b > e {
            return Err(c.err(format!(
                "slice begin {b} size {s} is out of range for dim {a} of size {len}"
            )));
        }
        if !(b == 0 && e == len) {
            axes.push(SliceAxis {
                axis: a,
                start: b,
                end: e,
                step: 1,
            });
        }
    }
    if axes.is_empty() {
        return Ok(vec![Val::Tensor(x)]);
    }
    let v = c.plain(x)?;
    let s = c.add(Op::Slice(Slice { axes }), vec![v])?;
    Ok(vec![c.plain_out(s)])
}

fn gather(c: &mut Ctx<'_>, raw_axis: i64) -> Result<Vec<Val>, IrError> {
    let (x, i) = (c.input(0)?, c.input(1)?);
    let rank = c.rank(x)?;
    let a = axis(c, raw_axis, rank)?;
    let xv = c.plain(x)?;
    let mut iv = c.plain(i)?;
    if !matches!(c.dtype(i)?, DType::I32 | DType::I64) {
        iv = c.add(Op::Cast(neoc_ir::ops::Cast { to: DType::I64 }), vec![iv])?;
    }
    let v = c.add(Op::Gather(Gather { axis: a }), vec![xv, iv])?;
    Ok(vec![c.plain_out(v)])
}

fn gather_v2(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    if c.attr_i("batch_dims", 0) != 0 {
        return Err(c.attr_err("batch_dims other than 0 is not supported"));
    }
    let a = c.const_int(2, "axis")?;
    gather(c, a)
}

fn gather_v1(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    gather(c, 0)
}

/// `ResourceGather(variable, indices)`: GatherV2 along axis 0 of the variable's value
/// (what tf_keras' Embedding reads).
fn resource_gather(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    if c.attr_i("batch_dims", 0) != 0 {
        return Err(c.attr_err("batch_dims other than 0 is not supported"));
    }
    let Val::Resource(table) = c.val(0)? else {
        return Err(c.err("input 0 must be a variable handle"));
    };
    let i = c.input(1)?;
    let mut iv = c.plain(i)?;
    if !matches!(c.dtype(i)?, DType::I32 | DType::I64) {
        iv = c.add(Op::Cast(neoc_ir::ops::Cast { to: DType::I64 }), vec![iv])?;
    }
    let v = c.add(Op::Gather(Gather { axis: 0 }), vec![table, iv])?;
    Ok(vec![c.plain_out(v)])
}
