//! Recognises layer normalization written as primitives and replaces it with one
//! `LayerNormalization` node.
//!
//! The pattern is what torch (below opset 17) and tf2onnx emit:
//!
//! ```text
//! m = ReduceMean(x, axes=A, keepdims)     d = Sub(x, m)
//! v = ReduceMean(Pow(d, 2), axes=A, keepdims)
//! y = Div(d, Sqrt(Add(v, eps)))  [→ Mul(·, scale)] [→ Add(·, bias)]
//! ```
//!
//! with `A` the trailing axes `[axis, rank)`. Sound because it is the definition of the
//! op; intermediate values must have no other readers, so nothing else observes them.
//! The fused kernel computes the same statistics in f32 (two passes), so results agree
//! to rounding.

use crate::pattern::{binary_operands, producer, readers_are, scalar, unary_operand};
use crate::Result;
use neoc_ir::ops::{BinaryOp, LayerNorm, Reduce, ReduceKind, UnaryOp};
use neoc_ir::{Graph, NodeId, Op, ValueId};

/// A matched pattern: the nodes to remove and what replaces them.
struct Match {
    x: ValueId,
    axis: usize,
    epsilon: f32,
    scale: Option<ValueId>,
    bias: Option<ValueId>,
    /// The value the LayerNorm replaces.
    out: ValueId,
    nodes: Vec<NodeId>,
}

/// `ReduceMean` over trailing axes with keepdims: the first reduced axis.
fn trailing_mean(graph: &Graph, r: &Reduce, x: ValueId) -> Option<usize> {
    let rank = graph.value(x).ty.rank();
    let first = *r.axes.first()?;
    let trailing = r.axes.iter().copied().eq(first..rank);
    (r.kind == ReduceKind::Mean && r.keepdims && trailing).then_some(first)
}

fn match_at(graph: &Graph, div_id: NodeId) -> Option<Match> {
    let div = graph.node(div_id);
    let (d, den) = binary_operands(div, BinaryOp::Div)?;
    let (sqrt_id, sqrt) = producer(graph, den)?;
    let ve = unary_operand(sqrt, UnaryOp::Sqrt)?;
    let (add_id, add) = producer(graph, ve)?;
    let (v, eps_v) = binary_operands(add, BinaryOp::Add)?;
    let eps = scalar(graph, eps_v)?;
    let (var_id, var_node) = producer(graph, v)?;
    let Op::Reduce(var_r) = &var_node.op else {
        return None;
    };
    let p = var_node.inputs.first().copied().flatten()?;
    let (pow_id, pow) = producer(graph, p)?;
    let (d2, two) = binary_operands(pow, BinaryOp::Pow)?;
    if d2 != d || scalar(graph, two)? != 2.0 {
        return None;
    }
    let (sub_id, sub) = producer(graph, d)?;
    let (x, m) = binary_operands(sub, BinaryOp::Sub)?;
    let (mean_id, mean_node) = producer(graph, m)?;
    let Op::Reduce(mean_r) = &mean_node.op else {
        return None;
    };
    if mean_node.inputs.first().copied().flatten()? != x || mean_r != var_r {
        return None;
    }
    let axis = trailing_mean(graph, mean_r, x)?;
    // Intermediates read only inside the pattern.
    let single = [m, p, v, ve, den];
    if !single.iter().all(|&s| readers_are(graph, s, 1)) || !readers_are(graph, d, 2) {
        return None;
    }
    let mut nodes = vec![div_id, sqrt_id, add_id, var_id, pow_id, sub_id, mean_id];
    let mut out = div.outputs[0];
    // Optional affine tail: Mul(·, scale) then Add(·, bias), constants only.
    let affine = |graph: &Graph, v: ValueId, op: BinaryOp| -> Option<(NodeId, ValueId, ValueId)> {
        if !readers_are(graph, v, 1) {
            return None;
        }
        let c = graph.consumers(v)[0];
        let (a, b) = binary_operands(graph.node(c), op)?;
        let other = if a == v { b } else { a };
        graph.const_value(other)?;
        Some((c, other, graph.node(c).outputs[0]))
    };
    let mut scale = None;
    let mut bias = None;
    if let Some((n, s, o)) = affine(graph, out, BinaryOp::Mul) {
        nodes.push(n);
        scale = Some(s);
        out = o;
        if let Some((n, b, o)) = affine(graph, out, BinaryOp::Add) {
            nodes.push(n);
            bias = Some(b);
            out = o;
        }
    }
    Some(Match {
        x,
        axis,
        epsilon: eps as f32,
        scale,
        bias,
        out,
        nodes,
    })
}

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut changed = false;
    for n in graph.topo_order() {
        if graph.try_node(n).is_none() {
            continue;
        }
        let Some(m) = match_at(graph, n) else {
            continue;
        };
        // Scale/bias must broadcast to the normalized dims (LayerNorm's contract).
        let op = Op::LayerNorm(LayerNorm {
            axis: m.axis,
            epsilon: m.epsilon,
        });
        let name = graph.value(m.out).name.clone();
        let node_name = format!("{}/layernorm", graph.node(n).name);
        let Ok(new) = graph.add_node(node_name, op, vec![Some(m.x), m.scale, m.bias], vec![name])
        else {
            continue;
        };
        if graph.value(new[0]).ty != graph.value(m.out).ty {
            continue;
        }
        graph.replace_uses(m.out, new[0])?;
        for id in m.nodes {
            graph.remove_node(id);
        }
        changed = true;
    }
    Ok(changed)
}
