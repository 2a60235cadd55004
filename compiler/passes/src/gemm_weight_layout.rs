//! Gemm with a constant, transposed B (`trans_b = 1`, how torch exports `nn.Linear`)
//! gets B transposed at compile time and `trans_b = 0`.
//!
//! Sound because the product is unchanged; it pays because the lowered kernel then
//! streams rows of B contiguously in its vectorized inner loop.

use crate::Result;
use neoc_ir::ops::{Gemm, Transpose};
use neoc_ir::{Graph, Op};

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut changed = false;
    for n in graph.topo_order() {
        let node = graph.node(n).clone();
        let Op::Gemm(g) = node.op else { continue };
        if !g.trans_b {
            continue;
        }
        let Some(Some(b)) = node.inputs.get(1).copied() else {
            continue;
        };
        if graph.const_value(b).is_none() {
            continue;
        }
        let name = format!("{}.b_t", graph.value(b).name);
        let bt = graph.add_node(
            format!("{}/transpose_b", node.name),
            Op::Transpose(Transpose { perm: vec![1, 0] }),
            vec![Some(b)],
            vec![name],
        )?;
        let mut inputs = node.inputs.clone();
        inputs[1] = Some(bt[0]);
        let new_op = Op::Gemm(Gemm {
            trans_b: false,
            ..g
        });
        let names = node
            .outputs
            .iter()
            .map(|v| graph.value(*v).name.clone())
            .collect();
        let outs = graph.add_node(node.name.clone(), new_op, inputs, names)?;
        graph.replace_uses(node.outputs[0], outs[0])?;
        graph.remove_node(n);
        changed = true;
    }
    Ok(changed)
}
