//! Shape and movement ops: Flatten, Reshape (with MXNet's special codes), Concat,
//! transpose, expand_dims, squeeze, slice_axis, and the reductions mean/sum/max/min.

use super::{op, Ctx, MxOp};
use neoc_ir::ops::{Concat, Reduce, ReduceKind, Slice, SliceAxis, Transpose};
use neoc_ir::shape::normalize_axis;
use neoc_ir::{IrError, Op, ValueId};

pub(crate) const OPS: &[MxOp] = &[
    op("Flatten", flatten, "Reshape to [N, rest]"),
    op("flatten", flatten, "Reshape to [N, rest]"),
    op("Reshape", reshape, "shape codes 0, -1, -2, -3, -4; reverse"),
    op("reshape", reshape, "as Reshape"),
    op("Concat", concat, "dim (default 1)"),
    op("concat", concat, "dim (default 1)"),
    op("transpose", transpose, "axes (default: reversed)"),
    op("expand_dims", expand_dims, "axis"),
    op("squeeze", squeeze, "axis, or every 1"),
    op(
        "slice_axis",
        slice_axis,
        "axis, begin, end (None: to the end)",
    ),
    op("mean", mean, "axis, keepdims, exclude"),
    op("sum", sum, "axis, keepdims, exclude"),
    op("max", max, "axis, keepdims, exclude"),
    op("min", min, "axis, keepdims, exclude"),
];

fn axis(c: &Ctx<'_>, a: i64, rank: usize) -> Result<usize, IrError> {
    normalize_axis(a, rank).map_err(|e| e.at(c.name(), c.op()))
}

fn flatten(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let Some(&n) = d.first() else {
        return Err(c.err("cannot flatten a scalar"));
    };
    let rest: u64 = d[1..].iter().product();
    Ok(vec![c.reshape(x, vec![n, rest])?])
}

/// MXNet's Reshape codes: 0 copies a dim, -1 infers one, -2 copies the rest, -3 merges
/// two dims, -4 splits one into the next two values (one may be -1).
fn resolve(input: &[u64], spec: &[i64]) -> Result<Vec<u64>, String> {
    let mut out: Vec<Option<u64>> = Vec::new();
    let mut i = 0usize; // input dim
    let mut j = 0usize; // spec entry
    let get = |i: usize| {
        input
            .get(i)
            .copied()
            .ok_or("the shape codes use more dims than the input has")
    };
    while j < spec.len() {
        match spec[j] {
            0 => {
                out.push(Some(get(i)?));
                i += 1;
            }
            -1 => {
                out.push(None);
                i += 1;
            }
            -2 => {
                out.extend(input.get(i..).unwrap_or_default().iter().map(|&d| Some(d)));
                i = input.len();
            }
            -3 => {
                out.push(Some(get(i)? * get(i + 1)?));
                i += 2;
            }
            -4 => {
                let d = get(i)?;
                let (a, b) = (
                    *spec.get(j + 1).ok_or("-4 needs two values")?,
                    *spec.get(j + 2).ok_or("-4 needs two values")?,
                );
                let (a, b) = match (a, b) {
                    (-1, b) if b > 0 && d % b as u64 == 0 => (d / b as u64, b as u64),
                    (a, -1) if a > 0 && d % a as u64 == 0 => (a as u64, d / a as u64),
                    (a, b) if a > 0 && b > 0 && a.checked_mul(b) == i64::try_from(d).ok() => {
                        (a as u64, b as u64)
                    }
                    _ => return Err(format!("-4 cannot split {d} into ({a}, {b})")),
                };
                out.extend([Some(a), Some(b)]);
                i += 1;
                j += 2;
            }
            v if v > 0 => {
                out.push(Some(v as u64));
                i += 1;
            }
            v => return Err(format!("shape code {v} is not known")),
        }
        j += 1;
    }
    let total: u64 = input.iter().product();
    let known = out
        .iter()
        .flatten()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or("the shape is too large")?;
    let unknown = out.iter().filter(|d| d.is_none()).count();
    let fill = match unknown {
        0 => 1,
        1 if known > 0 && total.is_multiple_of(known) => total / known,
        _ => return Err("cannot infer the -1 dims".into()),
    };
    let res: Vec<u64> = out.into_iter().map(|d| d.unwrap_or(fill)).collect();
    if res.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) != Some(total) {
        return Err(format!(
            "{res:?} does not hold the {total} elements of {input:?}"
        ));
    }
    Ok(res)
}

fn reshape(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let spec = c
        .tuple("shape")?
        .ok_or_else(|| c.attr_err("`shape` is missing"))?;
    let shape = if c.bool("reverse", false)? {
        let mut rd = d.clone();
        rd.reverse();
        let mut rs = spec.clone();
        rs.reverse();
        let mut r = resolve(&rd, &rs).map_err(|m| c.attr_err(m))?;
        r.reverse();
        r
    } else {
        resolve(&d, &spec).map_err(|m| c.attr_err(m))?
    };
    Ok(vec![c.reshape(x, shape)?])
}

fn concat(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let ins = c.inputs().to_vec();
    let Some(&first) = ins.first() else {
        return Err(c.err("needs at least one input"));
    };
    let rank = c.dims(first)?.len();
    let a = axis(c, c.int("dim", 1)?, rank)?;
    if ins.len() == 1 {
        return Ok(vec![first]);
    }
    Ok(vec![c.add(Op::Concat(Concat { axis: a }), ins)?])
}

fn transpose(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let rank = c.dims(x)?.len();
    let perm = match c.tuple("axes")? {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&p| axis(c, p, rank))
            .collect::<Result<Vec<_>, _>>()?,
        _ => (0..rank).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(c.attr_err(format!("axes {perm:?} are not a permutation")));
    }
    Ok(vec![c.add(Op::Transpose(Transpose { perm }), vec![x])?])
}

fn expand_dims(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let mut d = c.dims(x)?;
    let a = axis(c, c.int("axis", 0)?, d.len() + 1)?;
    d.insert(a, 1);
    Ok(vec![c.reshape(x, d)?])
}

fn squeeze(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let axes = match c.tuple("axis")? {
        Some(a) => a
            .iter()
            .map(|&p| axis(c, p, d.len()))
            .collect::<Result<Vec<_>, _>>()?,
        None => (0..d.len()).filter(|&i| d[i] == 1).collect(),
    };
    if let Some(&a) = axes.iter().find(|&&a| d[a] != 1) {
        return Err(c.err(format!("cannot squeeze dim {a} of size {}", d[a])));
    }
    let shape = (0..d.len())
        .filter(|i| !axes.contains(i))
        .map(|i| d[i])
        .collect();
    Ok(vec![c.reshape(x, shape)?])
}

fn slice_axis(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let d = c.dims(x)?;
    let a = axis(c, c.int("axis", 0)?, d.len())?;
    let len = d[a] as i64;
    let norm = |v: i64| (if v < 0 { v + len } else { v }).clamp(0, len);
    let begin = norm(c.int("begin", 0)?);
    let end = norm(c.int("end", len)?);
    if end < begin {
        return Err(c.err(format!("slice {begin}..{end} is empty or reversed")));
    }
    let s = Slice {
        axes: vec![SliceAxis {
            axis: a,
            start: begin,
            end,
            step: 1,
        }],
    };
    Ok(vec![c.add(Op::Slice(s), vec![x])?])
}

fn reduce(c: &mut Ctx<'_>, kind: ReduceKind) -> Result<Vec<ValueId>, IrError> {
    let x = c.input(0)?;
    let rank = c.dims(x)?.len();
    let listed = match c.tuple("axis")? {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&p| axis(c, p, rank))
            .collect::<Result<Vec<_>, _>>()?,
        _ => (0..rank).collect(),
    };
    let axes: Vec<usize> = if c.bool("exclude", false)? {
        (0..rank).filter(|a| !listed.contains(a)).collect()
    } else {
        listed
    };
    let keepdims = c.bool("keepdims", false)?;
    Ok(vec![c.add(
        Op::Reduce(Reduce {
            kind,
            axes,
            keepdims,
        }),
        vec![x],
    )?])
}

fn mean(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    reduce(c, ReduceKind::Mean)
}
fn sum(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    reduce(c, ReduceKind::Sum)
}
fn max(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    reduce(c, ReduceKind::Max)
}
fn min(c: &mut Ctx<'_>) -> Result<Vec<ValueId>, IrError> {
    reduce(c, ReduceKind::Min)
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn reshape_codes() {
        let d = [2, 3, 4, 5];
        assert_eq!(resolve(&d, &[0, -1]).unwrap(), vec![2, 60]);
        assert_eq!(resolve(&d, &[-2]).unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(resolve(&d, &[-3, -2]).unwrap(), vec![6, 4, 5]);
        assert_eq!(
            resolve(&d, &[0, -4, 1, -1, 0, 0]).unwrap(),
            vec![2, 1, 3, 4, 5]
        );
        assert_eq!(resolve(&d, &[4, 0, -1]).unwrap(), vec![4, 3, 10]);
        assert!(resolve(&d, &[7, -1]).is_err());
        assert!(resolve(&d, &[0, 0, 0, 0, 0]).is_err());
    }
}
