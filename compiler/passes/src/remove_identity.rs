//! Removes ops that do not change their input, and merges chained reshapes.
//!
//! - `Identity(x)`, `Reshape(x)` to `x`'s own shape, `Transpose(x)` with the identity
//!   permutation and `Cast(x)` to `x`'s own dtype all equal `x` element for element, so
//!   their readers read `x` instead.
//! - `Reshape(Reshape(x, s1), s2)` is `Reshape(x, s2)`: a reshape keeps the row-major
//!   element order, so only the last target shape matters.
//!
//! Graph outputs keep their names. When the removed op's output is a graph output and
//! `x` is a graph input or another graph output, the op stays (the memory planner turns
//! it into a copy); otherwise `x` takes over the output's name.

use crate::patch::{can_replace, producer, rewrite, Patch};
use crate::Result;
use neoc_ir::ops::Reshape;
use neoc_ir::{Graph, NodeId, Op};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, rule)
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Some(Some(x)), [out]) = (node.inputs.first().copied(), node.outputs.as_slice()) else {
        return Ok(None);
    };
    let x_ty = &graph.value(x).ty;
    let noop = match &node.op {
        Op::Identity => true,
        Op::Reshape(r) => x_ty.shape.as_fixed().as_deref() == Some(r.shape.as_slice()),
        Op::Transpose(t) => t.perm.iter().enumerate().all(|(i, &p)| i == p),
        Op::Cast(c) => c.to == x_ty.dtype,
        _ => false,
    };
    if noop {
        if graph.value(*out).ty != *x_ty || !can_replace(graph, *out, x) {
            return Ok(None);
        }
        let mut p = Patch::forward(*out, x);
        p.remove_if_dead(n);
        return Ok(Some(p));
    }
    // Reshape of a reshape: read the inner reshape's input directly.
    let Op::Reshape(outer) = &node.op else {
        return Ok(None);
    };
    let Some(inner) = producer(graph, x) else {
        return Ok(None);
    };
    let inner_node = graph.node(inner);
    let (Op::Reshape(_), Some(Some(src))) = (&inner_node.op, inner_node.inputs.first().copied())
    else {
        return Ok(None);
    };
    let mut p = Patch::new();
    let merged = p.add_node(
        node.name.clone(),
        Op::Reshape(Reshape {
            shape: outer.shape.clone(),
        }),
        vec![Some(src.into())],
        graph.value(*out).name.clone(),
    );
    p.replace(*out, merged);
    p.remove_if_dead(n);
    p.remove_if_dead(inner);
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::{Cast, Transpose, UnaryOp};
    use neoc_ir::DType;

    fn reshape(shape: &[u64]) -> Op {
        Op::Reshape(Reshape {
            shape: shape.to_vec(),
        })
    }

    #[test]
    fn forwards_no_op_nodes() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3]));
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let a = node(&mut g, Op::Identity, &[r]);
        let b = node(&mut g, reshape(&[2, 3]), &[a]);
        let c = node(&mut g, Op::Transpose(Transpose { perm: vec![0, 1] }), &[b]);
        let d = node(&mut g, Op::Cast(Cast { to: DType::F32 }), &[c]);
        let y = node(&mut g, Op::Unary(UnaryOp::Exp), &[d]);
        g.set_outputs(vec![y]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(after.node_count(), 2, "{after}");
    }

    #[test]
    fn merges_reshape_chains() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3, 4]));
        let a = node(&mut g, reshape(&[6, 4]), &[x]);
        let b = node(&mut g, reshape(&[24]), &[a]);
        let c = node(&mut g, reshape(&[4, 6]), &[b]);
        let y = node(&mut g, Op::Unary(UnaryOp::Exp), &[c]);
        g.set_outputs(vec![y]);
        let (after, _) = run_checked(&g, run);
        assert_eq!(count(&after, "Reshape"), 1, "{after}");
        // Back to the original shape: no reshape at all after a second sweep.
        let d = node(&mut g, reshape(&[2, 3, 4]), &[c]);
        g.set_outputs(vec![d]);
        let mut h = g.clone();
        while run(&mut h).unwrap() {}
        crate::dce::run(&mut h).unwrap();
        assert_eq!(
            count(&h, "Reshape"),
            1,
            "x is a graph input: a copy stays\n{h}"
        );
        assert_same(&g, &h);
    }

    #[test]
    fn keeps_real_casts_and_transposes() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3]));
        let a = node(&mut g, Op::Cast(Cast { to: DType::F16 }), &[x]);
        let b = node(&mut g, Op::Cast(Cast { to: DType::F32 }), &[a]);
        let c = node(&mut g, Op::Transpose(Transpose { perm: vec![1, 0] }), &[b]);
        g.set_outputs(vec![c]);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }

    #[test]
    fn graph_outputs_keep_their_names() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2]));
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let id_in = node(&mut g, Op::Identity, &[x]);
        let id_r = node(&mut g, Op::Identity, &[r]);
        g.set_outputs(vec![id_in, id_r]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(
            count(&after, "Identity"),
            1,
            "input→output copy stays\n{after}"
        );
        assert_eq!(after.outputs()[1], r, "relu now produces the output");

        // Identity of another graph output stays too.
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2]));
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[x]);
        let id_r = node(&mut g, Op::Identity, &[r]);
        g.set_outputs(vec![r, id_r]);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }
}
