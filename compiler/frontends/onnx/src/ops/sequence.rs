//! Sequence operators, resolved at import: SequenceEmpty, SequenceConstruct,
//! SequenceInsert, SequenceErase, SequenceAt, SequenceLength, ConcatFromSequence,
//! SplitToSequence.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__SequenceInsert.html> and its siblings.
//! neoc compiles static graphs, so a sequence is a list of IR values known while
//! importing ([`Sequence`]): its length and every position must be constants after
//! folding (a position arriving as a graph input gives the usual "must be a constant"
//! error; `neoc compile --constant-input` binds it). Building a sequence emits no code;
//! reading an element is an Identity, concatenation a Concat, splitting one Slice per
//! piece. A graph output of sequence type becomes one output per element, named
//! `<output>[i]`; sequence-typed graph inputs are not supported.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx, Sequence};
use crate::reader::dtype_of;
use neoc_ir::ops::{Concat, Reshape, Slice, SliceAxis};
use neoc_ir::{DType, IrError, Op, Tensor, ValueId};

pub(crate) const SPECS: &[OpSpec] = &[
    spec("SequenceEmpty", 11, 22, empty, "a sequence of no elements"),
    spec(
        "SequenceConstruct",
        11,
        22,
        construct,
        "elements of one type",
    ),
    spec(
        "SequenceInsert",
        11,
        22,
        insert,
        "constant position (default: append)",
    ),
    spec(
        "SequenceErase",
        11,
        22,
        erase,
        "constant position (default: the last)",
    ),
    spec(
        "SequenceAt",
        11,
        22,
        at,
        "constant position; Identity of the element",
    ),
    spec("SequenceLength", 11, 22, length, "an int64 constant"),
    spec(
        "ConcatFromSequence",
        11,
        22,
        concat,
        "Concat of the elements (new_axis: Reshape each first)",
    ),
    spec(
        "SplitToSequence",
        11,
        22,
        split,
        "constant split; one Slice per piece, keepdims=0 Reshapes",
    ),
];

fn empty(c: &mut NodeCtx<'_>) -> Built {
    let code = c.attrs.int("dtype", 1)?;
    let dtype = i32::try_from(code)
        .ok()
        .and_then(dtype_of)
        .ok_or_else(|| c.attr_error(format!("dtype {code} is not a supported element type")))?;
    c.emit_sequence(
        0,
        Sequence {
            elems: Vec::new(),
            dtype,
        },
    );
    Ok(Vec::new())
}

fn construct(c: &mut NodeCtx<'_>) -> Built {
    let mut elems = Vec::with_capacity(c.inputs().len());
    for i in 0..c.inputs().len() {
        elems.push(c.req(i)?);
    }
    let Some(&first) = elems.first() else {
        return Err(c.shape_error("SequenceConstruct needs at least one input"));
    };
    let dtype = c.ty(first).dtype;
    check_types(c, &elems, dtype)?;
    c.emit_sequence(0, Sequence { elems, dtype });
    Ok(Vec::new())
}

/// Every element has the sequence's element type.
fn check_types(c: &NodeCtx<'_>, elems: &[ValueId], dtype: DType) -> Result<(), IrError> {
    match elems.iter().find(|&&v| c.ty(v).dtype != dtype) {
        Some(&v) => Err(c.shape_error(format!(
            "sequence elements must share one type: {dtype} and {}",
            c.ty(v).dtype
        ))),
        None => Ok(()),
    }
}

/// The constant position at input `i` (default `default`), normalised against a
/// sequence of `len` elements; `inclusive` admits `len` itself (insertion at the end).
fn position(
    c: &NodeCtx<'_>,
    i: usize,
    len: usize,
    default: i64,
    inclusive: bool,
) -> Result<usize, IrError> {
    let p = match c.input(i) {
        None => default,
        Some(_) => match c.const_ints(i, "position")? {
            Some(v) if v.len() == 1 => v[0],
            Some(v) => return Err(c.shape_error(format!("position {v:?} must be a scalar"))),
            None => return Err(c.not_constant("position")),
        },
    };
    let n = len as i64;
    let hi = if inclusive { n } else { n - 1 };
    if p < -n || p > hi {
        return Err(c.shape_error(format!(
            "position {p} is outside a sequence of {len} element(s)"
        )));
    }
    Ok(if p < 0 { (p + n) as usize } else { p as usize })
}

fn insert(c: &mut NodeCtx<'_>) -> Built {
    let mut s = c.req_seq(0)?;
    let t = c.req(1)?;
    check_types(c, &[t], s.dtype)?;
    let at = position(c, 2, s.elems.len(), s.elems.len() as i64, true)?;
    s.elems.insert(at, t);
    c.emit_sequence(0, s);
    Ok(Vec::new())
}

fn erase(c: &mut NodeCtx<'_>) -> Built {
    let mut s = c.req_seq(0)?;
    if s.elems.is_empty() {
        return Err(c.shape_error("SequenceErase of an empty sequence"));
    }
    let at = position(c, 1, s.elems.len(), -1, false)?;
    s.elems.remove(at);
    c.emit_sequence(0, s);
    Ok(Vec::new())
}

fn at(c: &mut NodeCtx<'_>) -> Built {
    let s = c.req_seq(0)?;
    let at = position(c, 1, s.elems.len(), 0, false)?;
    let v = s.elems[at];
    c.emit1(Op::Identity, vec![Some(v)])
}

fn length(c: &mut NodeCtx<'_>) -> Built {
    let s = c.req_seq(0)?;
    let n = c.constant("length", Tensor::from_i64(vec![], &[s.elems.len() as i64]));
    c.emit1(Op::Identity, vec![Some(n)])
}

fn concat(c: &mut NodeCtx<'_>) -> Built {
    let s = c.req_seq(0)?;
    let Some(&first) = s.elems.first() else {
        return Err(c.shape_error("ConcatFromSequence of an empty sequence"));
    };
    let rank = c.ty(first).rank();
    let new_axis = c.attrs.int("new_axis", 0)? != 0;
    let axis = c
        .attrs
        .opt_int("axis")?
        .ok_or_else(|| c.attr_error("axis is required"))?;
    // With new_axis the elements gain a dim of 1 at `axis` (which may be `rank`).
    let axis = c.axis(axis, if new_axis { rank + 1 } else { rank })?;
    let mut parts = Vec::with_capacity(s.elems.len());
    for (k, &v) in s.elems.iter().enumerate() {
        if new_axis {
            let mut shape = c.dims(v)?;
            shape.insert(axis, 1);
            let r = Op::Reshape(Reshape { shape });
            parts.push(Some(c.inner(&format!("expand{k}"), r, vec![Some(v)])?));
        } else {
            parts.push(Some(v));
        }
    }
    c.emit1(Op::Concat(Concat { axis }), parts)
}

fn split(c: &mut NodeCtx<'_>) -> Built {
    let x = c.req(0)?;
    let d = c.dims(x)?;
    let axis = c.axis(c.attrs.int("axis", 0)?, d.len())?;
    let len = d[axis];
    let keepdims = c.attrs.int("keepdims", 1)? != 0;
    let (sizes, squeeze) = match c.input(1) {
        None => (vec![1; len as usize], !keepdims),
        Some(_) => {
            let v = c
                .const_ints(1, "split")?
                .ok_or_else(|| c.not_constant("split"))?;
            let chunked = c.ty(c.req(1)?).rank() == 0;
            let sizes: Vec<u64> = if chunked {
                let part = u64::try_from(v.first().copied().unwrap_or(0))
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| c.shape_error(format!("split {v:?} must be positive")))?;
                (0..len.div_ceil(part))
                    .map(|i| part.min(len - i * part))
                    .collect()
            } else {
                v.iter()
                    .map(|&s| {
                        u64::try_from(s)
                            .map_err(|_| c.shape_error(format!("split {v:?} is negative")))
                    })
                    .collect::<Result<_, _>>()?
            };
            (sizes, false)
        }
    };
    if sizes.iter().try_fold(0u64, |a, &s| a.checked_add(s)) != Some(len) {
        return Err(c.shape_error(format!(
            "split sizes {sizes:?} must sum to the axis length {len}"
        )));
    }
    let mut elems = Vec::with_capacity(sizes.len());
    let mut start = 0u64;
    for (k, &s) in sizes.iter().enumerate() {
        let sl = SliceAxis {
            axis,
            start: start as i64,
            end: (start + s) as i64,
            step: 1,
        };
        let mut v = c.inner(
            &format!("piece{k}"),
            Op::Slice(Slice { axes: vec![sl] }),
            vec![Some(x)],
        )?;
        if squeeze {
            let mut shape = c.dims(v)?;
            shape.remove(axis);
            let r = Op::Reshape(Reshape { shape });
            v = c.inner(&format!("piece{k}_squeezed"), r, vec![Some(v)])?;
        }
        elems.push(v);
        start += s;
    }
    let dtype = c.ty(x).dtype;
    c.emit_sequence(0, Sequence { elems, dtype });
    Ok(Vec::new())
}
