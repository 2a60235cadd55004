//! Fuses chains of elementwise operators into one `Elementwise` node.
//!
//! A float elementwise node (Unary, Binary or Elementwise) whose only reader is another
//! float elementwise node, and which is not a graph output, is merged into its reader:
//! the producer's program is evaluated first, then the reader's, in one loop. Sound
//! because broadcasting composes (an operand broadcast to the producer's shape and then
//! to the reader's equals the operand broadcast straight to the reader's shape) and the
//! program computes the same scalar functions in the same order, so results are
//! bit-identical. It pays by removing the intermediate tensor's store and load.

use crate::fusion::{
    fuse_all, is_elementwise, is_f32_node, replace_pair, sole_elementwise_reader, Builder,
};
use crate::Result;
use neoc_ir::{Graph, Op, ValueId};

pub fn run(graph: &mut Graph) -> Result<bool> {
    fuse_all(graph, fuse_one)
}

/// Finds and applies one fusion; false when none is left.
fn fuse_one(graph: &mut Graph) -> Result<bool> {
    for n in graph.topo_order() {
        let node = graph.node(n).clone();
        if !is_elementwise(&node.op) || !is_f32_node(graph, &node) || node.outputs.len() != 1 {
            continue;
        }
        let out = node.outputs[0];
        let Some((reader, r)) = sole_elementwise_reader(graph, out) else {
            continue;
        };
        let mut b = Builder {
            instrs: Vec::new(),
            inputs: Vec::new(),
            first_input: 0,
        };
        let p_ops: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        let Some(at) = b.append(graph, &node.op, &p_ops, out, usize::MAX) else {
            continue;
        };
        let r_ops: Vec<ValueId> = r.inputs.iter().flatten().copied().collect();
        let Some(result) = b.append(graph, &r.op, &r_ops, out, at) else {
            continue;
        };
        let (prog, inputs) = b.finish(result);
        if inputs.is_empty() {
            continue;
        }
        let inputs = inputs.into_iter().map(Some).collect();
        replace_pair(
            graph,
            (n, &node),
            (reader, &r),
            Op::Elementwise(prog),
            inputs,
        )?;
        return Ok(true);
    }
    Ok(false)
}
