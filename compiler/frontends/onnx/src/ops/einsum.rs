//! Einsum, desugared into Transpose, Reshape, Slice, ReduceSum and batched MatMul.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Einsum.html>. The equation is parsed
//! (spaces ignored, `...` expanded into one label per broadcast dim, the implicit output
//! being the ellipsis dims then the labels used once, in alphabetical order), then:
//! 1. per operand, a label repeated within it takes the diagonal (the two axes moved
//!    last, merged, and sliced with step `n + 1`);
//! 2. per operand, labels used nowhere else (neither another operand nor the output)
//!    are summed out;
//! 3. operands are combined left to right: labels in both that are still needed later
//!    are batch dims, the others in both are contracted, and the product is one
//!    `[batch, left, k] × [batch, k, right]` MatMul;
//! 4. the result is transposed into the output's label order.
//!
//! Every step is an existing IR op, so the result optimizes and runs like hand-written
//! MatMul code. Broadcasting a size-1 dim of one operand against another is refused.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::ops::{Reduce, ReduceKind, Reshape, Slice, SliceAxis, Transpose};
use neoc_ir::{IrError, Op, ValueId};
use std::collections::BTreeMap;

pub(crate) const SPECS: &[OpSpec] = &[spec(
    "Einsum",
    12,
    22,
    einsum,
    "desugared: diagonals, sums, batched MatMul, Transpose",
)];

/// A tensor with one label per axis.
struct Term {
    v: ValueId,
    labels: Vec<char>,
    dims: Vec<u64>,
}

/// The labels standing for broadcast (`...`) dims: outside the letters ONNX allows.
fn ellipsis_label(i: usize) -> char {
    char::from_u32(0x100 + i as u32).unwrap_or('?')
}

/// Expands `...` in `term` for an operand of `rank` dims, `ell` being the number of
/// broadcast dims of the whole equation (labels right-aligned).
fn expand(term: &str, rank: Option<usize>, ell: usize) -> Result<Vec<char>, String> {
    let letters: Vec<char> = term.replace("...", "").chars().collect();
    if let Some(bad) = letters.iter().find(|c| !c.is_ascii_alphabetic()) {
        return Err(format!("label '{bad}' is not a letter"));
    }
    if !term.contains("...") {
        return Ok(letters);
    }
    let mine = match rank {
        Some(r) => r
            .checked_sub(letters.len())
            .ok_or("term has more labels than dims")?,
        None => ell,
    };
    let (before, after) = term.split_once("...").ok_or("bad ellipsis")?;
    let mut out: Vec<char> = before.chars().collect();
    out.extend((ell - mine..ell).map(ellipsis_label));
    out.extend(after.chars());
    Ok(out)
}

fn einsum(c: &mut NodeCtx<'_>) -> Built {
    let eq: String = c
        .attrs
        .string("equation", "")?
        .chars()
        .filter(|ch| !ch.is_whitespace())
        .collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (eq.clone(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    let n_in = c.inputs().len();
    if terms.len() != n_in {
        return Err(c.attr_error(format!(
            "equation \"{eq}\" has {} operands, the node {n_in} inputs",
            terms.len()
        )));
    }
    let bad = |m: String| c.attr_error(format!("equation \"{eq}\": {m}"));
    let mut ops = Vec::new();
    let mut ell = 0;
    for (i, t) in terms.iter().enumerate() {
        let v = c.req(i)?;
        let dims = c.dims(v)?;
        let letters = t.replace("...", "").len();
        if t.contains("...") {
            ell = ell.max(dims.len().saturating_sub(letters));
        }
        ops.push((v, dims));
    }
    let mut operands = Vec::new();
    for (t, (v, dims)) in terms.iter().zip(ops) {
        let labels = expand(t, Some(dims.len()), ell).map_err(&bad)?;
        if labels.len() != dims.len() {
            return Err(bad(format!(
                "term \"{t}\" does not match an operand of dims {dims:?}"
            )));
        }
        operands.push(Term { v, labels, dims });
    }
    // Label sizes must agree.
    let mut size: BTreeMap<char, u64> = BTreeMap::new();
    for t in &operands {
        for (&l, &d) in t.labels.iter().zip(&t.dims) {
            if *size.entry(l).or_insert(d) != d {
                return Err(bad(format!("label '{l}' has sizes {} and {d}", size[&l])));
            }
        }
    }
    let output: Vec<char> = match &rhs {
        Some(r) => expand(r, None, ell).map_err(&bad)?,
        None => {
            let mut count: BTreeMap<char, usize> = BTreeMap::new();
            for t in &operands {
                for &l in &t.labels {
                    *count.entry(l).or_default() += 1;
                }
            }
            let mut out: Vec<char> = (0..ell).map(ellipsis_label).collect();
            out.extend(
                count
                    .iter()
                    .filter(|(l, &n)| n == 1 && l.is_ascii_alphabetic())
                    .map(|(&l, _)| l),
            );
            out
        }
    };
    if let Some(l) = output.iter().find(|l| !size.contains_key(l)) {
        return Err(bad(format!("output label '{l}' appears in no operand")));
    }

    let mut e = Emit { c, n: 0 };
    let count = operands.len();
    let mut acc: Option<Term> = None;
    for (i, t) in operands.into_iter().enumerate() {
        // Labels still needed after this operand is used: the output and later operands.
        let later: Vec<char> = output
            .iter()
            .copied()
            .chain(
                terms[i + 1..]
                    .iter()
                    .flat_map(|t| expand(t, None, ell).unwrap_or_default()),
            )
            .collect();
        let mut t = e.diagonals(t)?;
        let keep: Vec<char> = later
            .iter()
            .copied()
            .chain(acc.iter().flat_map(|a| a.labels.clone()))
            .collect();
        t = e.sum_out(t, &keep)?;
        acc = Some(match acc {
            None => t,
            Some(a) => e.product(a, t, &later)?,
        });
    }
    let Some(mut acc) = acc else {
        return Err(e.c.attr_error(format!("equation \"{eq}\" has no operands")));
    };
    acc = e.sum_out(acc, &output)?;
    let perm: Vec<usize> = output
        .iter()
        .map(|l| acc.labels.iter().position(|m| m == l).unwrap_or(0))
        .collect();
    if count > 0 && acc.labels.len() != output.len() {
        return Err(e.c.attr_error(format!(
            "equation \"{eq}\": output labels do not match the operands"
        )));
    }
    if output.is_empty() {
        return e
            .c
            .emit1(Op::Reshape(Reshape { shape: vec![] }), vec![Some(acc.v)]);
    }
    e.c.emit1(Op::Transpose(Transpose { perm }), vec![Some(acc.v)])
}

/// Emits the intermediate nodes, named `<node>/e<n>`.
struct Emit<'c, 'n> {
    c: &'c mut NodeCtx<'n>,
    n: usize,
}

impl Emit<'_, '_> {
    fn op(&mut self, op: Op, x: ValueId) -> Result<ValueId, IrError> {
        self.n += 1;
        self.c.inner(&format!("e{}", self.n), op, vec![Some(x)])
    }

    /// `t` with its axes in `order` (labels).
    fn arrange(&mut self, t: Term, order: &[char]) -> Result<Term, IrError> {
        let perm: Vec<usize> = order
            .iter()
            .map(|l| t.labels.iter().position(|m| m == l).unwrap_or(0))
            .collect();
        let dims = perm.iter().map(|&p| t.dims[p]).collect();
        let v = self.op(Op::Transpose(Transpose { perm }), t.v)?;
        Ok(Term {
            v,
            labels: order.to_vec(),
            dims,
        })
    }

    fn reshape(&mut self, x: ValueId, shape: Vec<u64>) -> Result<ValueId, IrError> {
        self.op(Op::Reshape(Reshape { shape }), x)
    }

    /// Takes the diagonal of every label repeated within `t`.
    fn diagonals(&mut self, mut t: Term) -> Result<Term, IrError> {
        while let Some((p, q)) = (0..t.labels.len()).find_map(|p| {
            (p + 1..t.labels.len())
                .find(|&q| t.labels[q] == t.labels[p])
                .map(|q| (p, q))
        }) {
            let l = t.labels[p];
            let mut order: Vec<char> = Vec::new();
            for (i, &m) in t.labels.iter().enumerate() {
                if i != p && i != q {
                    order.push(m);
                }
            }
            let rest = order.clone();
            order.push(l);
            order.push(l);
            // Transpose by positions (labels repeat): the other axes, then p, q.
            let mut perm: Vec<usize> = (0..t.labels.len()).filter(|&i| i != p && i != q).collect();
            perm.push(p);
            perm.push(q);
            let n = t.dims[p];
            let mut dims: Vec<u64> = perm.iter().map(|&i| t.dims[i]).collect();
            let v = self.op(Op::Transpose(Transpose { perm }), t.v)?;
            dims.truncate(dims.len() - 2);
            let mut merged = dims.clone();
            merged.push(n * n);
            let v = self.reshape(v, merged)?;
            let axis = dims.len();
            let s = Slice {
                axes: vec![SliceAxis {
                    axis,
                    start: 0,
                    end: (n * n) as i64,
                    step: (n + 1) as i64,
                }],
            };
            let v = self.op(Op::Slice(s), v)?;
            dims.push(n);
            let mut labels = rest;
            labels.push(l);
            t = Term { v, labels, dims };
        }
        Ok(t)
    }

    /// Sums out the labels of `t` not in `keep`.
    fn sum_out(&mut self, t: Term, keep: &[char]) -> Result<Term, IrError> {
        let axes: Vec<usize> = (0..t.labels.len())
            .filter(|&i| !keep.contains(&t.labels[i]))
            .collect();
        if axes.is_empty() {
            return Ok(t);
        }
        let r = Reduce {
            kind: ReduceKind::Sum,
            axes: axes.clone(),
            keepdims: false,
        };
        let v = self.op(Op::Reduce(r), t.v)?;
        let (labels, dims) = t
            .labels
            .iter()
            .zip(&t.dims)
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, (&l, &d))| (l, d))
            .unzip();
        Ok(Term { v, labels, dims })
    }

    /// The product of `a` and `b`, contracting their shared labels not in `later`.
    fn product(&mut self, a: Term, b: Term, later: &[char]) -> Result<Term, IrError> {
        let shared: Vec<char> = a
            .labels
            .iter()
            .copied()
            .filter(|l| b.labels.contains(l))
            .collect();
        let batch: Vec<char> = shared
            .iter()
            .copied()
            .filter(|l| later.contains(l))
            .collect();
        let contract: Vec<char> = shared
            .iter()
            .copied()
            .filter(|l| !later.contains(l))
            .collect();
        let left: Vec<char> = a
            .labels
            .iter()
            .copied()
            .filter(|l| !shared.contains(l))
            .collect();
        let right: Vec<char> = b
            .labels
            .iter()
            .copied()
            .filter(|l| !shared.contains(l))
            .collect();
        let size = |t: &Term, ls: &[char]| -> Vec<u64> {
            ls.iter()
                .map(|l| t.dims[t.labels.iter().position(|m| m == l).unwrap_or(0)])
                .collect()
        };
        let prod = |d: &[u64]| d.iter().product::<u64>();
        let (bd, ld, kd, rd) = (
            size(&a, &batch),
            size(&a, &left),
            size(&a, &contract),
            size(&b, &right),
        );
        let order_a: Vec<char> = batch
            .iter()
            .chain(&left)
            .chain(&contract)
            .copied()
            .collect();
        let order_b: Vec<char> = batch
            .iter()
            .chain(&contract)
            .chain(&right)
            .copied()
            .collect();
        let a = self.arrange(a, &order_a)?;
        let b = self.arrange(b, &order_b)?;
        let a3 = self.reshape(a.v, vec![prod(&bd), prod(&ld), prod(&kd)])?;
        let b3 = self.reshape(b.v, vec![prod(&bd), prod(&kd), prod(&rd)])?;
        self.n += 1;
        let m = self.c.inner(
            &format!("e{}", self.n),
            Op::MatMul,
            vec![Some(a3), Some(b3)],
        )?;
        let dims: Vec<u64> = bd.iter().chain(&ld).chain(&rd).copied().collect();
        let v = self.reshape(m, dims.clone())?;
        let labels = batch.iter().chain(&left).chain(&right).copied().collect();
        Ok(Term { v, labels, dims })
    }
}
