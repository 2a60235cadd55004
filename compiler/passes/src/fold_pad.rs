//! Folds an explicit Pad into the Conv or pooling window that reads it.
//!
//! Applies to a `Pad` in constant mode with non-negative pads on the spatial axes only
//! (axes 0 and 1, batch and channel, unpadded), whose output nothing else reads. The
//! explicit pads are added to the op's own pads. Rules, by reader:
//!
//! - **Conv**: pad value 0. A Conv's own padding is zero padding, so zeros added by the
//!   Pad and zeros added by the Conv are the same elements.
//! - **MaxPool**: a window's padded positions never win the maximum, so explicit padding
//!   may become implicit padding only when the explicit value could never win either:
//!   the value is `-inf`, or the value is at most a known lower bound of the input (the
//!   input is a `Relu` (bound 0) or `Clip` (bound `min`)). In both cases every window
//!   must still cover at least one input element (dilation 1 and every combined pad
//!   smaller than the kernel), so no window is made of padding alone.
//! - **AveragePool**: pad value 0, and the pool either has no pads of its own or counts
//!   them (`count_include_pad`). The explicit zeros add nothing to a window's sum and were
//!   counted as elements, so the folded pool counts its padding
//!   (`count_include_pad = true`).
//!
//! Pools with `ceil_mode` are not folded: which trailing window is dropped depends on
//! where the input (explicit padding included) ends. The combined pads must satisfy the
//! op's own limits (a pool's pads stay below its window), else nothing is folded.

use crate::patch::{producer, rewrite, single_use, Patch};
use crate::Result;
use neoc_ir::ops::{Pad, PadMode, Pool, PoolKind, UnaryOp};
use neoc_ir::{Graph, NodeId, Op, ValueId};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, rule)
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Some(Some(padded)), [out]) = (node.inputs.first().copied(), node.outputs.as_slice())
    else {
        return Ok(None);
    };
    let Some(pad_node) = producer(graph, padded) else {
        return Ok(None);
    };
    let pn = graph.node(pad_node);
    let (Op::Pad(pad), Some(Some(x))) = (&pn.op, pn.inputs.first().copied()) else {
        return Ok(None);
    };
    if !single_use(graph, padded, n) {
        return Ok(None);
    }
    let Some(extra) = spatial_pads(pad) else {
        return Ok(None);
    };
    let new_op = match &node.op {
        Op::Conv(c) if pad.value == 0.0 && extra.len() == c.pads.len() => {
            let mut c = c.clone();
            add(&mut c.pads, &extra);
            Op::Conv(c)
        }
        Op::Pool(p) if !p.ceil_mode && extra.len() == p.pads.len() => {
            let Some(pool) = fold_pool(graph, p, pad, x, &extra) else {
                return Ok(None);
            };
            Op::Pool(pool)
        }
        _ => return Ok(None),
    };
    let mut inputs: Vec<_> = node.inputs.iter().map(|v| v.map(Into::into)).collect();
    inputs[0] = Some(x.into());
    let mut p = Patch::new();
    let new = p.add_node(
        node.name.clone(),
        new_op,
        inputs,
        graph.value(*out).name.clone(),
    );
    p.replace(*out, new);
    p.remove_if_dead(n);
    p.remove_if_dead(pad_node);
    Ok(Some(p))
}

/// The Pad's spatial pads (begins, then ends, as a Conv/Pool carries them) when it is a
/// constant-mode pad of the spatial axes only, by non-negative amounts.
fn spatial_pads(pad: &Pad) -> Option<Vec<u64>> {
    let rank = pad.pads.len() / 2;
    if pad.mode != PadMode::Constant || rank < 3 || pad.pads.iter().any(|&p| p < 0) {
        return None;
    }
    if (0..2).any(|i| pad.axis_pads(i) != (0, 0)) {
        return None;
    }
    let begins = (2..rank).map(|i| pad.axis_pads(i).0 as u64);
    let ends = (2..rank).map(|i| pad.axis_pads(i).1 as u64);
    Some(begins.chain(ends).collect())
}

fn add(pads: &mut [u64], extra: &[u64]) {
    pads.iter_mut().zip(extra).for_each(|(p, e)| *p += e);
}

/// The pool with the explicit pads folded in, when the rules in the module doc allow.
fn fold_pool(graph: &Graph, p: &Pool, pad: &Pad, x: ValueId, extra: &[u64]) -> Option<Pool> {
    let mut new = p.clone();
    add(&mut new.pads, extra);
    let k = p.kernel.len();
    let below = |limit: &dyn Fn(usize) -> u64| {
        (0..k).all(|i| new.pads[i] < limit(i) && new.pads[k + i] < limit(i))
    };
    match p.kind {
        PoolKind::Max => {
            let v = f64::from(pad.value);
            let never_wins =
                v == f64::NEG_INFINITY || lower_bound(graph, x).is_some_and(|b| v <= b);
            let every_window_sees_input =
                p.dilations.iter().all(|&d| d == 1) && below(&|i| p.kernel[i]);
            (never_wins && every_window_sees_input).then_some(new)
        }
        PoolKind::Avg { count_include_pad } => {
            let own_pads = p.pads.iter().any(|&q| q != 0);
            if pad.value != 0.0 || (own_pads && !count_include_pad) {
                return None;
            }
            new.kind = PoolKind::Avg {
                count_include_pad: true,
            };
            below(&|i| p.kernel[i] * p.dilations[i]).then_some(new)
        }
    }
}

/// A value no element of `x` is below, when `x`'s producer guarantees one.
fn lower_bound(graph: &Graph, x: ValueId) -> Option<f64> {
    match graph.node(producer(graph, x)?).op {
        Op::Unary(UnaryOp::Relu) => Some(0.0),
        Op::Unary(UnaryOp::Clip { min, .. }) => Some(f64::from(min)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::Conv;

    fn pad_op(spatial: [i64; 4], value: f32) -> Op {
        let [a, b, c, d] = spatial;
        Op::Pad(Pad {
            pads: vec![0, 0, a, b, 0, 0, c, d],
            mode: PadMode::Constant,
            value,
        })
    }

    fn pool(kind: PoolKind, pads: u64, ceil_mode: bool) -> Op {
        Op::Pool(Pool {
            kind,
            kernel: vec![3, 3],
            strides: vec![2, 2],
            pads: vec![pads; 4],
            dilations: vec![1, 1],
            ceil_mode,
        })
    }

    /// x → [relu] → Pad → reader
    fn graph(pad: Op, reader: Op, relu: bool, weights: bool) -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 2, 7, 7]));
        let src = if relu {
            node(&mut g, Op::Unary(UnaryOp::Relu), &[x])
        } else {
            x
        };
        let p = node(&mut g, pad, &[src]);
        let mut ins = vec![p];
        if weights {
            ins.push(konst(&mut g, "w", &[3, 2, 3, 3], |i| (i % 5) as f32 - 2.0));
        }
        let y = node(&mut g, reader, &ins);
        g.set_outputs(vec![y]);
        g
    }

    fn conv(pads: u64) -> Op {
        Op::Conv(Conv {
            kernel: vec![3, 3],
            strides: vec![1, 1],
            pads: vec![pads; 4],
            dilations: vec![1, 1],
            group: 1,
        })
    }

    fn folds(g: &Graph) -> bool {
        let (after, changed) = run_checked(g, run);
        assert_eq!(count(&after, "Pad"), usize::from(!changed), "{after}");
        changed
    }

    #[test]
    fn zero_pad_folds_into_conv() {
        assert!(folds(&graph(
            pad_op([1, 2, 0, 1], 0.0),
            conv(1),
            false,
            true
        )));
        assert!(!folds(&graph(
            pad_op([1, 1, 1, 1], 1.0),
            conv(0),
            false,
            true
        )));
    }

    #[test]
    fn non_spatial_or_non_constant_pads_stay() {
        let chan = Op::Pad(Pad {
            pads: vec![0, 1, 0, 0, 0, 0, 0, 0],
            mode: PadMode::Constant,
            value: 0.0,
        });
        let w = Op::Conv(Conv {
            kernel: vec![3, 3],
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
        });
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 1, 7, 7]));
        let p = node(&mut g, chan, &[x]);
        let wt = konst(&mut g, "w", &[3, 2, 3, 3], |i| i as f32);
        let y = node(&mut g, w, &[p, wt]);
        g.set_outputs(vec![y]);
        assert!(!folds(&g));
        let edge = Op::Pad(Pad {
            pads: vec![0, 0, 1, 1, 0, 0, 1, 1],
            mode: PadMode::Edge,
            value: 0.0,
        });
        assert!(!folds(&graph(edge, conv(0), false, true)));
        assert!(!folds(&graph(
            pad_op([-1, 0, 0, 0], 0.0),
            conv(0),
            false,
            true
        )));
    }

    #[test]
    fn max_pool_needs_a_value_that_never_wins() {
        let max = |pads| pool(PoolKind::Max, pads, false);
        assert!(folds(&graph(
            pad_op([1, 1, 1, 1], f32::NEG_INFINITY),
            max(1),
            false,
            false
        )));
        assert!(!folds(&graph(
            pad_op([1, 1, 1, 1], 0.0),
            max(0),
            false,
            false
        )));
        assert!(folds(&graph(
            pad_op([1, 1, 1, 1], 0.0),
            max(0),
            true,
            false
        )));
        // Combined pads 2 + 1 reach the kernel size: not folded.
        assert!(!folds(&graph(
            pad_op([2, 2, 2, 2], 0.0),
            max(1),
            true,
            false
        )));
        assert!(!folds(&graph(
            pad_op([1, 1, 1, 1], f32::NEG_INFINITY),
            pool(PoolKind::Max, 0, true),
            false,
            false
        )));
    }

    #[test]
    fn average_pool_counts_the_folded_zeros() {
        let avg = |pads, count_include_pad| pool(PoolKind::Avg { count_include_pad }, pads, false);
        assert!(folds(&graph(
            pad_op([1, 1, 1, 1], 0.0),
            avg(0, false),
            false,
            false
        )));
        assert!(folds(&graph(
            pad_op([1, 0, 0, 1], 0.0),
            avg(1, true),
            false,
            false
        )));
        assert!(!folds(&graph(
            pad_op([1, 0, 0, 1], 0.0),
            avg(1, false),
            false,
            false
        )));
        assert!(!folds(&graph(
            pad_op([1, 1, 1, 1], 2.0),
            avg(0, true),
            false,
            false
        )));
    }
}
