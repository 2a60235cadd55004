//! `Einsum` (Keras' `EinsumDense` and `MultiHeadAttention` use it) desugared into
//! Transpose, Reshape, ReduceSum and one batched MatMul.
//!
//! Supported: one or two operands, explicit output (`->`), each label at most once per
//! operand, no ellipsis. Labels only one operand has and the output lacks are summed
//! first; the rest sort into batch (both operands and the output), contracted (both
//! operands only) and free labels; the operands are laid out as `[batch, free, k]` and
//! `[batch, k, free]`, multiplied, and the product is reshaped and transposed into the
//! output order.

use super::{op, Ctx, TfOp};
use crate::value::Val;
use neoc_ir::ops::{Reduce, ReduceKind};
use neoc_ir::{IrError, Op, ValueId};
use std::collections::BTreeMap;

pub(crate) const OPS: &[TfOp] = &[op(
    "Einsum",
    einsum,
    "one or two operands, no ellipsis or repeated labels; Transpose/Reshape/MatMul",
)];

/// An operand during the rewrite: its IR value and the label of each dim.
struct Operand {
    v: ValueId,
    labels: Vec<char>,
}

fn einsum(c: &mut Ctx<'_>) -> Result<Vec<Val>, IrError> {
    let eq = c.equation()?;
    let eq: String = eq.chars().filter(|ch| !ch.is_whitespace()).collect();
    let Some((lhs, out)) = eq.split_once("->") else {
        return Err(c.attr_err(format!("equation `{eq}` needs an explicit output (->)")));
    };
    if eq.contains('.') {
        return Err(c.attr_err(format!("equation `{eq}`: ellipsis is not supported")));
    }
    let specs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
    let out: Vec<char> = out.chars().collect();
    if specs.len() != c.n_inputs() || specs.is_empty() || specs.len() > 2 {
        return Err(c.attr_err(format!(
            "equation `{eq}` with {} operands is not supported (one or two)",
            c.n_inputs()
        )));
    }
    let mut sizes: BTreeMap<char, u64> = BTreeMap::new();
    let mut ops = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let t = c.input(i)?;
        let d = c.dims(t)?;
        if d.len() != spec.len() {
            return Err(c.err(format!(
                "operand {i} has rank {}, `{eq}` says {}",
                d.len(),
                spec.len()
            )));
        }
        for (j, &l) in spec.iter().enumerate() {
            if spec[..j].contains(&l) {
                return Err(c.attr_err(format!(
                    "`{eq}`: repeated label {l} (diagonals) is not supported"
                )));
            }
            if *sizes.entry(l).or_insert(d[j]) != d[j] {
                return Err(c.err(format!(
                    "`{eq}`: label {l} has sizes {} and {}",
                    sizes[&l], d[j]
                )));
            }
        }
        ops.push(Operand {
            v: c.plain(t)?,
            labels: spec.clone(),
        });
    }
    for (j, l) in out.iter().enumerate() {
        if !sizes.contains_key(l) || out[..j].contains(l) {
            return Err(c.attr_err(format!("`{eq}`: output label {l} is unknown or repeated")));
        }
    }
    // Sum labels only one operand has and the output lacks.
    for i in 0..ops.len() {
        let other: Vec<char> = if ops.len() == 2 {
            ops[1 - i].labels.clone()
        } else {
            vec![]
        };
        let axes: Vec<usize> = ops[i]
            .labels
            .iter()
            .enumerate()
            .filter(|(_, l)| !out.contains(l) && !other.contains(l))
            .map(|(a, _)| a)
            .collect();
        if !axes.is_empty() {
            let v = c.add(
                Op::Reduce(Reduce {
                    kind: ReduceKind::Sum,
                    axes: axes.clone(),
                    keepdims: false,
                }),
                vec![ops[i].v],
            )?;
            let labels = ops[i]
                .labels
                .iter()
                .enumerate()
                .filter(|(a, _)| !axes.contains(a))
                .map(|(_, &l)| l)
                .collect();
            ops[i] = Operand { v, labels };
        }
    }
    let size = |ls: &[char]| ls.iter().map(|l| sizes[l]).product::<u64>();
    let dims = |ls: &[char]| ls.iter().map(|l| sizes[l]).collect::<Vec<u64>>();
    let (result, result_labels) = if ops.len() == 1 {
        (ops[0].v, ops[0].labels.clone())
    } else {
        let (a, b) = (&ops[0], &ops[1]);
        let batch: Vec<char> = out
            .iter()
            .copied()
            .filter(|l| a.labels.contains(l) && b.labels.contains(l))
            .collect();
        let k: Vec<char> = a
            .labels
            .iter()
            .copied()
            .filter(|l| b.labels.contains(l) && !out.contains(l))
            .collect();
        let af: Vec<char> = a
            .labels
            .iter()
            .copied()
            .filter(|l| !b.labels.contains(l))
            .collect();
        let bf: Vec<char> = b
            .labels
            .iter()
            .copied()
            .filter(|l| !a.labels.contains(l))
            .collect();
        let arrange = |c: &mut Ctx<'_>, o: &Operand, order: &[char], shape: Vec<u64>| {
            let perm: Vec<usize> = order
                .iter()
                .filter_map(|l| o.labels.iter().position(|x| x == l))
                .collect();
            let t = if perm.iter().enumerate().all(|(i, &p)| i == p) {
                o.v
            } else {
                c.transpose(o.v, &perm)?
            };
            c.reshape(t, shape)
        };
        let a_order: Vec<char> = [&batch[..], &af[..], &k[..]].concat();
        let b_order: Vec<char> = [&batch[..], &k[..], &bf[..]].concat();
        let av = arrange(c, a, &a_order, vec![size(&batch), size(&af), size(&k)])?;
        let bv = arrange(c, b, &b_order, vec![size(&batch), size(&k), size(&bf)])?;
        let m = c.add(Op::MatMul, vec![av, bv])?;
        let labels: Vec<char> = [&batch[..], &af[..], &bf[..]].concat();
        (c.reshape(m, dims(&labels))?, labels)
    };
    let perm: Vec<usize> = out
        .iter()
        .filter_map(|l| result_labels.iter().position(|x| x == l))
        .collect();
    if perm.len() != result_labels.len() {
        return Err(c.internal_einsum(&eq));
    }
    let v = if perm.iter().enumerate().all(|(i, &p)| i == p) {
        result
    } else {
        c.transpose(result, &perm)?
    };
    Ok(vec![c.plain_out(v)])
}

impl Ctx<'_> {
    fn internal_einsum(&self, eq: &str) -> IrError {
        IrError::Internal(format!(
            "einsum `{eq}`: output labels do not match the product"
        ))
    }
}
