//! Operators whose output shape depends on input values: NonZero and Unique.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__NonZero.html>,
//! <https://onnx.ai/onnx/operators/onnx__Unique.html>. neoc compiles static shapes, so
//! these are computed at import when their input is a constant after folding (an
//! initializer, a folded subgraph, or a graph input bound with `--constant-input`); a
//! run-time input gets the "must be a constant … dynamic shapes are not supported"
//! error. Values are compared as f64 (exact for every type but 64-bit integers beyond
//! 2^53). TopK with a run-time `k` and Range from run-time bounds are refused the same
//! way by their builders.

use super::{spec, OpSpec};
use crate::context::{Built, NodeCtx};
use neoc_ir::shape::strides;
use neoc_ir::{Op, Tensor};
use std::cmp::Ordering;

pub(crate) const SPECS: &[OpSpec] = &[
    spec(
        "NonZero",
        9,
        22,
        non_zero,
        "constant input only (computed at import): the output shape depends on the values",
    ),
    spec(
        "Unique",
        11,
        22,
        unique,
        "constant input only (computed at import); sorted or first-occurrence order, axis",
    ),
];

const WHY: &str = "the output shape depends on the input's values";

fn non_zero(c: &mut NodeCtx<'_>) -> Built {
    c.req(0)?;
    let Some(t) = c.const_input(0) else {
        return Err(c.not_constant(format!("input 0 ({WHY})")));
    };
    let dims = t.shape.clone();
    let values = t.to_f64_vec();
    let st = strides(&dims);
    let hits: Vec<usize> = (0..values.len()).filter(|&i| values[i] != 0.0).collect();
    c.built_elements(&[dims.len() as u64, hits.len() as u64], 8)?;
    let mut out = Vec::with_capacity(dims.len() * hits.len());
    for (&stride, &size) in st.iter().zip(&dims) {
        out.extend(
            hits.iter()
                .map(|&i| ((i as u64 / stride.max(1)) % size.max(1)) as i64),
        );
    }
    let result = c.constant(
        "indices",
        Tensor::from_i64(vec![dims.len() as u64, hits.len() as u64], &out),
    );
    c.emit1(Op::Identity, vec![Some(result)])
}

fn unique(c: &mut NodeCtx<'_>) -> Built {
    c.req(0)?;
    let Some(t) = c.const_input(0).cloned() else {
        return Err(c.not_constant(format!("input 0 ({WHY})")));
    };
    let sorted = c.attrs.int("sorted", 1)? != 0;
    let values = t.to_f64_vec();
    // The slices compared: single elements of the flattened input, or the slices along
    // `axis` (each a row of `inner` values in the other dims' order).
    let (outer, count, inner, axis) = match c.attrs.opt_int("axis")? {
        None => (1u64, values.len() as u64, 1u64, None),
        Some(a) => {
            let axis = c.axis(a, t.shape.len())?;
            let outer: u64 = t.shape[..axis].iter().product();
            let inner: u64 = t.shape[axis + 1..].iter().product();
            (outer, t.shape[axis], inner, Some(axis))
        }
    };
    let slice = |k: u64| -> Vec<f64> {
        let mut v = Vec::with_capacity((outer * inner) as usize);
        for o in 0..outer {
            let base = ((o * count + k) * inner) as usize;
            v.extend_from_slice(&values[base..base + inner as usize]);
        }
        v
    };
    let slices: Vec<Vec<f64>> = (0..count).map(slice).collect();
    let cmp = |a: &Vec<f64>, b: &Vec<f64>| -> Ordering {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    };
    // First occurrences, in input order: a stable sort by value groups equal slices
    // (O(n log n); a pairwise search would be quadratic on a large constant).
    let mut by_value: Vec<usize> = (0..slices.len()).collect();
    by_value.sort_by(|&a, &b| cmp(&slices[a], &slices[b]));
    let mut group_of = vec![0usize; slices.len()];
    let mut group_first: Vec<usize> = Vec::new();
    for (pos, &k) in by_value.iter().enumerate() {
        let same = pos > 0 && cmp(&slices[by_value[pos - 1]], &slices[k]) == Ordering::Equal;
        if !same {
            group_first.push(k);
        }
        group_of[k] = group_first.len() - 1;
    }
    // Number the groups by first occurrence.
    let mut groups: Vec<usize> = (0..group_first.len()).collect();
    groups.sort_by_key(|&g| group_first[g]);
    let mut number = vec![0usize; group_first.len()];
    for (n, &g) in groups.iter().enumerate() {
        number[g] = n;
    }
    let firsts: Vec<usize> = groups.iter().map(|&g| group_first[g]).collect();
    let inverse: Vec<usize> = group_of.iter().map(|&g| number[g]).collect();
    // Output order: sorted by value, or by first occurrence.
    let mut order: Vec<usize> = (0..firsts.len()).collect();
    if sorted {
        order.sort_by(|&a, &b| cmp(&slices[firsts[a]], &slices[firsts[b]]));
    }
    let mut rank_of = vec![0usize; firsts.len()];
    for (r, &u) in order.iter().enumerate() {
        rank_of[u] = r;
    }
    let n = firsts.len() as u64;
    let mut counts = vec![0i64; firsts.len()];
    for &u in &inverse {
        counts[rank_of[u]] += 1;
    }
    let indices: Vec<i64> = order.iter().map(|&u| firsts[u] as i64).collect();
    let inverse: Vec<i64> = inverse.iter().map(|&u| rank_of[u] as i64).collect();
    // Y: the unique slices in output order, put back along the axis.
    let (y_shape, y_values): (Vec<u64>, Vec<f64>) = match axis {
        None => (
            vec![n],
            indices.iter().map(|&k| slices[k as usize][0]).collect(),
        ),
        Some(axis) => {
            let mut shape = t.shape.clone();
            shape[axis] = n;
            let mut y = vec![0.0; (outer * n * inner) as usize];
            for (r, &k) in indices.iter().enumerate() {
                let s = &slices[k as usize];
                for o in 0..outer {
                    let dst = ((o * n + r as u64) * inner) as usize;
                    let src = (o * inner) as usize;
                    y[dst..dst + inner as usize].copy_from_slice(&s[src..src + inner as usize]);
                }
            }
            (shape, y)
        }
    };
    c.built_elements(&y_shape, t.dtype.size_bytes() as u64)?;
    let outs: [(&str, Tensor); 4] = [
        ("y", Tensor::from_f64_as(t.dtype, y_shape, &y_values)),
        ("indices", Tensor::from_i64(vec![n], &indices)),
        (
            "inverse_indices",
            Tensor::from_i64(vec![inverse.len() as u64], &inverse),
        ),
        ("counts", Tensor::from_i64(vec![n], &counts)),
    ];
    let mut result = Vec::with_capacity(4);
    for (i, (name, tensor)) in outs.into_iter().enumerate().take(c.output_count().max(1)) {
        let v = c.constant(name, tensor);
        result.push(c.emit_output(i, Op::Identity, vec![Some(v)])?);
    }
    Ok(result)
}
