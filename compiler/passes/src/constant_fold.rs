//! Constant folding: a node whose inputs are all constants becomes constants.
//!
//! Import already folds such nodes as they are added ([`Graph::add_node`]), but passes
//! create new ones (a Transpose of a weight, a Reshape of a folded bias), and a node
//! whose inputs only became constant after a rewrite is folded here.
//!
//! Sound because [`Op::eval`] is the reference semantics of the op; a node without a
//! reference evaluation is left alone. Results larger than [`Graph::FOLD_LIMIT_BYTES`]
//! are not materialised (they would bloat the artifact's weights for no speed gain).
//! `Shape` of a statically shaped value folds even when its input is not constant.

use crate::patch::{rewrite, Patch};
use crate::Result;
use neoc_ir::{Graph, NodeId, Op, Tensor, TensorType};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, rule)
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    // A dead node is left to `dce` rather than materialised.
    if !node.outputs.iter().any(|&v| graph.is_used(v)) {
        return Ok(None);
    }
    let out_types: Vec<TensorType> = node
        .outputs
        .iter()
        .map(|&v| graph.value(v).ty.clone())
        .collect();
    let Some(folded) = fold(graph, n, &out_types)? else {
        return Ok(None);
    };
    if folded.len() != node.outputs.len() {
        return Ok(None);
    }
    let mut p = Patch::new();
    for (&old, t) in node.outputs.iter().zip(folded) {
        let c = p.add_const(graph.value(old).name.clone(), t);
        p.replace(old, c);
    }
    p.remove_if_dead(n);
    Ok(Some(p))
}

fn fold(graph: &Graph, n: NodeId, out_types: &[TensorType]) -> Result<Option<Vec<Tensor>>> {
    let node = graph.node(n);
    let size = out_types.iter().try_fold(0u64, |acc, t| {
        let n = t.shape.num_elements()?;
        acc.checked_add(n.checked_mul(t.dtype.size_bytes() as u64)?)
    });
    if size.is_none_or(|s| s > Graph::FOLD_LIMIT_BYTES) {
        return Ok(None);
    }
    if let Op::Shape(s) = &node.op {
        let Some(Some(x)) = node.inputs.first() else {
            return Ok(None);
        };
        let Some(d) = graph.value(*x).ty.shape.as_fixed() else {
            return Ok(None);
        };
        let Some(d) = d.get(s.start..s.end) else {
            return Ok(None);
        };
        let v: Vec<i64> = d.iter().map(|&x| x as i64).collect();
        return Ok(Some(vec![Tensor::from_i64(vec![v.len() as u64], &v)]));
    }
    let consts: Option<Vec<Option<&Tensor>>> = node
        .inputs
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(v) => graph.const_value(*v).map(Some),
        })
        .collect();
    let Some(consts) = consts else {
        return Ok(None);
    };
    match node.op.eval(&consts, out_types) {
        None => Ok(None),
        Some(r) => r.map(Some).map_err(|e| e.at(&node.name, node.op.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::{BinaryOp, Transpose, UnaryOp};

    #[test]
    fn folds_a_node_whose_input_became_constant() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[3, 2]));
        let w = g.add_const("w", Tensor::from_f32(vec![3, 2], &[1., 2., 3., 4., 5., 6.]));
        let t = node(&mut g, Op::Transpose(Transpose { perm: vec![1, 0] }), &[x]);
        let y = node(&mut g, Op::Unary(UnaryOp::Neg), &[t]);
        g.set_outputs(vec![y]);
        assert!(!run(&mut g).unwrap(), "nothing is constant yet");
        // As a rewrite might: the transpose now reads a constant, and so, after it
        // folds, does the Neg.
        g.replace_uses(x, w).unwrap();
        assert!(run(&mut g).unwrap());
        crate::dce::run(&mut g).unwrap();
        assert_eq!(g.node_count(), 0);
        let out = g.outputs()[0];
        let c = g.const_value(out).unwrap();
        assert_eq!(c.shape, vec![2, 3]);
        assert_eq!(c.to_f32_vec(), vec![-1., -3., -5., -2., -4., -6.]);
        assert_eq!(
            g.value(out).name,
            g.value(y).name,
            "the output keeps its name"
        );
    }

    #[test]
    fn leaves_results_over_the_size_limit() {
        // [4097,1] + [1,4097] f32 is 67,141,636 bytes, just over 64 MiB.
        let n = 4097;
        let mut g = Graph::new("t");
        let a = g.add_input("a", f32_ty(&[n, 1]));
        let b = g.add_input("b", f32_ty(&[1, n]));
        let y = node(&mut g, Op::Binary(BinaryOp::Add), &[a, b]);
        g.set_outputs(vec![y]);
        let ones = vec![1.0; n as usize];
        let ca = g.add_const("ca", Tensor::from_f32(vec![n, 1], &ones));
        let cb = g.add_const("cb", Tensor::from_f32(vec![1, n], &ones));
        g.replace_uses(a, ca).unwrap();
        g.replace_uses(b, cb).unwrap();
        assert!(!run(&mut g).unwrap());
        assert_eq!(g.node_count(), 1);
    }
}
