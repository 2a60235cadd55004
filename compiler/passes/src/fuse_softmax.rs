//! Recognises softmax written as primitives and replaces it with one `Softmax` node:
//!
//! ```text
//! e = Exp(Sub(x, ReduceMax(x, [a], keepdims)))   (or e = Exp(x))
//! y = Div(e, ReduceSum(e, [a], keepdims))
//! ```
//!
//! Sound because that is softmax's definition (the max subtraction only guards against
//! overflow and cancels out); the fused kernel always subtracts the max, so it is at
//! least as accurate. Intermediates must have no readers outside the pattern.

use crate::pattern::{binary_operands, producer, readers_are, unary_operand};
use crate::Result;
use neoc_ir::ops::{BinaryOp, Reduce, ReduceKind, Softmax, UnaryOp};
use neoc_ir::{Graph, NodeId, Op, ValueId};

fn single_axis(r: &Reduce, kind: ReduceKind) -> Option<usize> {
    match r.axes.as_slice() {
        [a] if r.kind == kind && r.keepdims => Some(*a),
        _ => None,
    }
}

/// Returns (x, axis, nodes to remove) for a softmax ending at Div node `n`.
fn match_at(graph: &Graph, n: NodeId) -> Option<(ValueId, usize, Vec<NodeId>)> {
    let div = graph.node(n);
    let (e, s) = binary_operands(div, BinaryOp::Div)?;
    let (sum_id, sum) = producer(graph, s)?;
    let Op::Reduce(sr) = &sum.op else { return None };
    let axis = single_axis(sr, ReduceKind::Sum)?;
    if sum.inputs.first().copied().flatten()? != e {
        return None;
    }
    let (exp_id, exp) = producer(graph, e)?;
    let t = unary_operand(exp, UnaryOp::Exp)?;
    if !readers_are(graph, e, 2) || !readers_are(graph, s, 1) {
        return None;
    }
    let mut nodes = vec![n, sum_id, exp_id];
    // Optional max subtraction.
    let x = match producer(graph, t) {
        Some((sub_id, sub)) => match binary_operands(sub, BinaryOp::Sub) {
            Some((x, m)) => {
                let (max_id, max) = producer(graph, m)?;
                let Op::Reduce(mr) = &max.op else { return None };
                if single_axis(mr, ReduceKind::Max)? != axis
                    || max.inputs.first().copied().flatten()? != x
                    || !readers_are(graph, t, 1)
                    || !readers_are(graph, m, 1)
                {
                    return None;
                }
                nodes.extend([sub_id, max_id]);
                x
            }
            None => t,
        },
        None => t,
    };
    Some((x, axis, nodes))
}

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut changed = false;
    for n in graph.topo_order() {
        if graph.try_node(n).is_none() {
            continue;
        }
        let Some((x, axis, nodes)) = match_at(graph, n) else {
            continue;
        };
        let out = graph.node(n).outputs[0];
        let name = graph.value(out).name.clone();
        let node_name = format!("{}/softmax", graph.node(n).name);
        let op = Op::Softmax(Softmax { axis, log: false });
        let new = graph.add_node(node_name, op, vec![Some(x)], vec![name])?;
        if graph.value(new[0]).ty != graph.value(out).ty {
            continue;
        }
        graph.replace_uses(out, new[0])?;
        for id in nodes {
            graph.remove_node(id);
        }
        changed = true;
    }
    Ok(changed)
}
