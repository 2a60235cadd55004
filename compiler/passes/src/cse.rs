//! Common-subexpression elimination.
//!
//! Two nodes with equal ops (attributes included, by `PartialEq` on [`Op`]) and the same
//! input values compute the same outputs, because IR ops are pure functions of their
//! inputs; the later node's readers move to the earlier node. Walking in topological
//! order makes chains collapse in one sweep: once `b = f(x)` is merged into `a = f(x)`,
//! `g(b)` reads `a` and meets an earlier `g(a)`. Reusing the earlier node creates no
//! cycle: it reads only values the later node read too.
//!
//! Constants with the same dtype, shape and bytes are merged first, so that nodes
//! reading two copies of one weight become equal. Candidates are found by a hash of
//! the dtype, shape and a sample of the bytes, then compared in full.
//!
//! A node whose op is not `PartialEq` to itself (a NaN attribute) is never merged.
//! Graph outputs keep their names: a graph output is merged only into a value that is
//! not itself a graph input or output (see [`crate::patch::can_replace`]).

use crate::patch::{can_replace, rewrite, Patch};
use crate::Result;
use neoc_ir::{Graph, NodeId, Tensor, ValueDef, ValueId};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

pub fn run(graph: &mut Graph) -> Result<bool> {
    let consts = dedupe_consts(graph)?;
    let mut seen: HashMap<(&'static str, Vec<Option<ValueId>>), Vec<NodeId>> = HashMap::new();
    let nodes = rewrite(graph, |g, n| {
        let node = g.node(n);
        let key = (node.op.name(), node.inputs.clone());
        let earlier = seen.entry(key).or_default();
        let Some(&first) = earlier.iter().find(|&&m| {
            let other = g.node(m);
            other.op == node.op
                && other.inputs == node.inputs
                && other.outputs.len() == node.outputs.len()
                && node.outputs.iter().zip(&other.outputs).all(|(&old, &new)| {
                    g.value(old).ty == g.value(new).ty && can_replace(g, old, new)
                })
        }) else {
            earlier.push(n);
            return Ok(None);
        };
        let mut p = Patch::new();
        for (&old, &new) in node.outputs.iter().zip(&g.node(first).outputs) {
            p.replace(old, new);
        }
        p.remove_if_dead(n);
        Ok(Some(p))
    })?;
    Ok(consts || nodes)
}

/// A hash of a constant's type and a bounded sample of its bytes.
fn const_key(t: &Tensor) -> u64 {
    let mut h = DefaultHasher::new();
    t.dtype.hash(&mut h);
    t.shape.hash(&mut h);
    let b = t.bytes();
    b.len().hash(&mut h);
    const SAMPLE: usize = 256;
    if b.len() <= 4 * SAMPLE {
        b.hash(&mut h);
    } else {
        b[..SAMPLE].hash(&mut h);
        b[b.len() - SAMPLE..].hash(&mut h);
        let step = b.len() / SAMPLE;
        for i in 0..SAMPLE {
            b[i * step].hash(&mut h);
        }
    }
    h.finish()
}

/// Moves readers of duplicate constants to the first copy. Only constants that are
/// read (by a node or as a graph output) are considered.
fn dedupe_consts(graph: &mut Graph) -> Result<bool> {
    let mut used: Vec<ValueId> = graph
        .topo_order()
        .into_iter()
        .flat_map(|n| graph.node(n).inputs.clone())
        .flatten()
        .chain(graph.outputs().iter().copied())
        .filter(|&v| matches!(graph.value(v).def, ValueDef::Const(_)))
        .collect();
    used.sort();
    used.dedup();
    let mut first: HashMap<u64, Vec<ValueId>> = HashMap::new();
    let mut patch = Patch::new();
    let mut changed = false;
    for v in used {
        let Some(t) = graph.const_value(v) else {
            continue;
        };
        let same = first.entry(const_key(t)).or_default();
        match same
            .iter()
            .find(|&&u| graph.const_value(u) == Some(t) && can_replace(graph, v, u))
        {
            Some(&u) => {
                patch.replace(v, u);
                changed = true;
            }
            None => same.push(v),
        }
    }
    patch.apply(graph)?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::{BinaryOp, Transpose, UnaryOp};
    use neoc_ir::Op;

    #[test]
    fn merges_equal_nodes_and_their_users() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3]));
        let a = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let b = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let ea = node(&mut g, Op::Unary(UnaryOp::Exp), &[a]);
        let eb = node(&mut g, Op::Unary(UnaryOp::Exp), &[b]);
        let y = node(&mut g, Op::Binary(BinaryOp::Add), &[ea, eb]);
        g.set_outputs(vec![y]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(after.node_count(), 3, "{after}");
    }

    #[test]
    fn different_attributes_are_not_merged() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3, 4]));
        let a = node(
            &mut g,
            Op::Transpose(Transpose {
                perm: vec![2, 1, 0],
            }),
            &[x],
        );
        let b = node(
            &mut g,
            Op::Transpose(Transpose {
                perm: vec![2, 1, 0],
            }),
            &[x],
        );
        let c = node(&mut g, Op::Unary(UnaryOp::LeakyRelu { alpha: 0.1 }), &[a]);
        let d = node(&mut g, Op::Unary(UnaryOp::LeakyRelu { alpha: 0.2 }), &[b]);
        g.set_outputs(vec![c, d]);
        let (after, _) = run_checked(&g, run);
        assert_eq!(count(&after, "Transpose"), 1);
        assert_eq!(count(&after, "LeakyRelu"), 2);
    }

    #[test]
    fn duplicate_constants_make_nodes_equal() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[4]));
        let c1 = konst(&mut g, "c1", &[4], |i| i as f32);
        let c2 = konst(&mut g, "c2", &[4], |i| i as f32);
        let c3 = konst(&mut g, "c3", &[4], |i| i as f32 + 1.0);
        let a = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, c1]);
        let b = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, c2]);
        let c = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, c3]);
        g.set_outputs(vec![a, b, c]);
        // Two outputs computed by equal nodes stay distinct values (both are graph
        // outputs with their own names).
        let (after, _) = run_checked(&g, run);
        assert_eq!(count(&after, "Mul"), 3);

        let s = node(&mut g, Op::Binary(BinaryOp::Add), &[a, b]);
        g.set_outputs(vec![s, c]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(count(&after, "Mul"), 2, "{after}");
    }

    #[test]
    fn large_constants_differing_in_the_middle_are_not_merged() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[4096]));
        let c1 = konst(&mut g, "c1", &[4096], |_| 1.0);
        let c2 = konst(&mut g, "c2", &[4096], |i| if i == 1001 { 2.0 } else { 1.0 });
        let a = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, c1]);
        let b = node(&mut g, Op::Binary(BinaryOp::Mul), &[x, c2]);
        let s = node(&mut g, Op::Binary(BinaryOp::Add), &[a, b]);
        g.set_outputs(vec![s]);
        let (after, changed) = run_checked(&g, run);
        assert!(!changed);
        assert_eq!(count(&after, "Mul"), 2);
    }
}
