//! Composes back-to-back transposes.
//!
//! `Transpose(Transpose(x, p1), p2)` has output dim `i` = middle dim `p2[i]` = input dim
//! `p1[p2[i]]`, so it equals `Transpose(x, q)` with `q[i] = p1[p2[i]]`; when `q` is the
//! identity it equals `x` and the readers read `x` (unless that would rename a graph
//! input or output; then the single composed transpose stays and `remove-identity`
//! leaves it as the planner's copy). The inner transpose is removed once nothing else
//! reads it.

use crate::patch::{can_replace, producer, rewrite, Patch};
use crate::Result;
use neoc_ir::ops::Transpose;
use neoc_ir::{Graph, NodeId, Op};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, rule)
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Op::Transpose(Transpose { perm: p2 }), Some(Some(mid)), [out]) = (
        &node.op,
        node.inputs.first().copied(),
        node.outputs.as_slice(),
    ) else {
        return Ok(None);
    };
    let Some(inner) = producer(graph, mid) else {
        return Ok(None);
    };
    let inner_node = graph.node(inner);
    let (Op::Transpose(Transpose { perm: p1 }), Some(Some(x))) =
        (&inner_node.op, inner_node.inputs.first().copied())
    else {
        return Ok(None);
    };
    if p1.len() != p2.len() || p2.iter().any(|&i| i >= p1.len()) {
        return Ok(None);
    }
    let q: Vec<usize> = p2.iter().map(|&i| p1[i]).collect();
    let mut p = Patch::new();
    if q.iter().enumerate().all(|(i, &d)| i == d) && can_replace(graph, *out, x) {
        p.replace(*out, x);
    } else {
        let t = p.add_node(
            node.name.clone(),
            Op::Transpose(Transpose { perm: q }),
            vec![Some(x.into())],
            graph.value(*out).name.clone(),
        );
        p.replace(*out, t);
    }
    p.remove_if_dead(n);
    p.remove_if_dead(inner);
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::UnaryOp;

    fn tr(perm: &[usize]) -> Op {
        Op::Transpose(Transpose {
            perm: perm.to_vec(),
        })
    }

    #[test]
    fn inverse_transposes_cancel() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3, 4, 5]));
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let a = node(&mut g, tr(&[0, 2, 3, 1]), &[r]);
        let b = node(&mut g, tr(&[0, 3, 1, 2]), &[a]);
        let y = node(&mut g, Op::Unary(UnaryOp::Exp), &[b]);
        g.set_outputs(vec![y]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(count(&after, "Transpose"), 0, "{after}");
    }

    #[test]
    fn non_inverse_transposes_compose() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3, 4]));
        let a = node(&mut g, tr(&[1, 0, 2]), &[x]);
        let b = node(&mut g, tr(&[0, 2, 1]), &[a]);
        g.set_outputs(vec![b]);
        let (after, _) = run_checked(&g, run);
        assert_eq!(count(&after, "Transpose"), 1, "{after}");
    }

    #[test]
    fn a_shared_inner_transpose_stays() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3]));
        let a = node(&mut g, tr(&[1, 0]), &[x]);
        let b = node(&mut g, tr(&[1, 0]), &[a]);
        let e = node(&mut g, Op::Unary(UnaryOp::Exp), &[b]);
        let f = node(&mut g, Op::Unary(UnaryOp::Exp), &[a]);
        g.set_outputs(vec![e, f]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(count(&after, "Transpose"), 1, "{after}");
    }

    #[test]
    fn a_single_transpose_is_left_alone() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3]));
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let a = node(&mut g, tr(&[1, 0]), &[r]);
        g.set_outputs(vec![a]);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }
}
