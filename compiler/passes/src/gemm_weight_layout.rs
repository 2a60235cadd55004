//! Gemm with a constant, transposed B (`trans_b = 1`, how torch exports `nn.Linear`)
//! gets B transposed at compile time and `trans_b = 0`.
//!
//! Sound because the product is unchanged; it makes the graph's B row-major like every
//! other Gemm. B larger than [`Graph::FOLD_LIMIT_BYTES`] is left transposed: the
//! Transpose would not fold and would run on every inference, and the Gemm lowering
//! packs a constant B at compile time from either layout anyway.

use crate::patch::{rewrite, Patch};
use crate::Result;
use neoc_ir::ops::{Gemm, Transpose};
use neoc_ir::{Graph, NodeId, Op};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, rule)
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Op::Gemm(g), [out]) = (&node.op, node.outputs.as_slice()) else {
        return Ok(None);
    };
    let Some(Some(b)) = node.inputs.get(1).copied() else {
        return Ok(None);
    };
    if !g.trans_b || graph.const_value(b).is_none() {
        return Ok(None);
    }
    let bytes = graph.value(b).ty.shape.num_elements().unwrap_or(u64::MAX)
        * graph.value(b).ty.dtype.size_bytes() as u64;
    if bytes > Graph::FOLD_LIMIT_BYTES {
        return Ok(None);
    }
    let mut p = Patch::new();
    // Folded to a constant when the patch is applied.
    let bt = p.add_node(
        format!("{}/transpose_b", node.name),
        Op::Transpose(Transpose { perm: vec![1, 0] }),
        vec![Some(b.into())],
        format!("{}.b_t", graph.value(b).name),
    );
    let mut inputs: Vec<_> = node.inputs.iter().map(|v| v.map(Into::into)).collect();
    inputs[1] = Some(bt);
    let gemm = p.add_node(
        node.name.clone(),
        Op::Gemm(Gemm {
            trans_b: false,
            ..*g
        }),
        inputs,
        graph.value(*out).name.clone(),
    );
    p.replace(*out, gemm);
    p.remove_if_dead(n);
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    #[test]
    fn constant_transposed_b_is_transposed_once() {
        let mut g = Graph::new("t");
        let a = g.add_input("a", f32_ty(&[2, 3]));
        let b = konst(&mut g, "b", &[4, 3], |i| i as f32);
        let gemm = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        };
        let y = node(&mut g, Op::Gemm(gemm), &[a, b]);
        g.set_outputs(vec![y]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(after.node_count(), 1);
        let (_, again) = run_checked(&after, run);
        assert!(!again);
    }

    #[test]
    fn b_too_large_to_fold_stays_transposed() {
        // 4097 x 4097 f32 is just over the 64 MiB fold limit.
        let mut g = Graph::new("t");
        let a = g.add_input("a", f32_ty(&[1, 4097]));
        let b = konst(&mut g, "b", &[4097, 4097], |_| 0.5);
        let gemm = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        };
        let y = node(&mut g, Op::Gemm(gemm), &[a, b]);
        g.set_outputs(vec![y]);
        let (_, changed) = run_checked(&g, run);
        assert!(
            !changed,
            "a Transpose this large would run at every inference"
        );
    }
}
