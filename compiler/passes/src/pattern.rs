//! Small helpers for pattern-matching passes: look through the producer of a value.

use neoc_ir::{Graph, Node, NodeId, Op, ValueDef, ValueId};

/// The node producing `v`, if `v` is a node output.
pub(crate) fn producer(graph: &Graph, v: ValueId) -> Option<(NodeId, &Node)> {
    match graph.value(v).def {
        ValueDef::Node(n, _) => Some((n, graph.node(n))),
        _ => None,
    }
}

/// The value of `v` when it is a one-element constant.
pub(crate) fn scalar(graph: &Graph, v: ValueId) -> Option<f64> {
    let t = graph.const_value(v)?;
    (t.num_elements() == 1).then(|| t.to_f64_vec()[0])
}

/// The two operands of a binary node with op `op`.
pub(crate) fn binary_operands(
    node: &Node,
    op: neoc_ir::ops::BinaryOp,
) -> Option<(ValueId, ValueId)> {
    match (&node.op, node.inputs.as_slice()) {
        (Op::Binary(b), [Some(x), Some(y)]) if *b == op => Some((*x, *y)),
        _ => None,
    }
}

/// The operand of a unary node with op `op`.
pub(crate) fn unary_operand(node: &Node, op: neoc_ir::ops::UnaryOp) -> Option<ValueId> {
    match (&node.op, node.inputs.as_slice()) {
        (Op::Unary(u), [Some(x)]) if *u == op => Some(*x),
        _ => None,
    }
}

/// True when `v` has exactly `n` readers and is not a graph output.
pub(crate) fn readers_are(graph: &Graph, v: ValueId, n: usize) -> bool {
    !graph.outputs().contains(&v) && graph.consumers(v).len() == n
}
