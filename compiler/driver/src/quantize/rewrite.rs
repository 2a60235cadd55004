//! The QDQ rewrite: which nodes are *anchors* (Conv / Gemm / MatMul with constant
//! float weights), which values get a QuantizeLinear → DequantizeLinear pair, and the
//! rewritten copy of the graph with per-channel int8 weights, in the form the ONNX
//! importer gives a QDQ model so that the `int8-qdq` pass folds both alike.

use neoc_ir::ops::{BinaryOp, Cast, UnaryOp};
use neoc_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};
use std::collections::{HashMap, HashSet};

/// An anchor the rewrite may quantize: node, weight value, per-channel axis of the
/// weights.
#[derive(Debug, Clone)]
pub(super) struct Anchor {
    pub(super) node: NodeId,
    pub(super) name: String,
    pub(super) weights: ValueId,
    /// Axis of the weights that indexes output channels.
    pub(super) axis: usize,
}

pub(super) fn anchors(graph: &Graph) -> Vec<Anchor> {
    let mut out = Vec::new();
    for n in graph.topo_order() {
        let node = graph.node(n);
        let (Some(Some(x)), Some(Some(w))) = (node.inputs.first(), node.inputs.get(1)) else {
            continue;
        };
        let Some(wt) = graph.const_value(*w) else {
            continue;
        };
        if wt.dtype != DType::F32 || graph.value(*x).ty.dtype != DType::F32 {
            continue;
        }
        let axis = match &node.op {
            Op::Conv(c) if c.kernel.len() <= 2 => 0,
            Op::Gemm(g) if g.alpha == 1.0 && g.beta == 1.0 && !g.trans_a => usize::from(!g.trans_b),
            Op::MatMul if wt.shape.len() == 2 => 1,
            _ => continue,
        };
        out.push(Anchor {
            node: n,
            name: node.name.clone(),
            weights: *w,
            axis,
        });
    }
    out
}

/// Values the rewrite quantizes, given the anchors to quantize.
pub(super) fn quantized_values(graph: &Graph, chosen: &[&Anchor]) -> Vec<ValueId> {
    let mut set: Vec<ValueId> = Vec::new();
    let push = |v: ValueId, set: &mut Vec<ValueId>| {
        if !set.contains(&v) && !graph.outputs().contains(&v) {
            set.push(v);
        }
    };
    for a in chosen {
        let node = graph.node(a.node);
        if let Some(Some(x)) = node.inputs.first() {
            push(*x, &mut set);
        }
        // The output, after a ReLU that alone reads it.
        push(after_relu(graph, node.outputs[0]), &mut set);
    }
    // Residual adds between quantized values: the sum (after a ReLU) too.
    let qset: HashSet<ValueId> = set.iter().copied().collect();
    for n in graph.topo_order() {
        let node = graph.node(n);
        if node.op != Op::Binary(BinaryOp::Add) {
            continue;
        }
        let both = node.inputs.iter().flatten().all(|v| qset.contains(v));
        if both && node.inputs.len() == 2 {
            push(after_relu(graph, node.outputs[0]), &mut set);
        }
    }
    set
}

/// `y`, or the output of the ReLU that alone reads it (what gets quantized then).
fn after_relu(graph: &Graph, y: ValueId) -> ValueId {
    match graph.consumers(y).as_slice() {
        [r] if graph.node(*r).op == Op::Unary(UnaryOp::Relu) => graph.node(*r).outputs[0],
        _ => y,
    }
}

/// A copy of `graph` with QDQ around the chosen anchors (module docs, step 2).
pub(super) fn rewrite(
    graph: &Graph,
    chosen: &[&Anchor],
    params: &HashMap<ValueId, (f32, f32)>,
) -> Result<Graph, neoc_ir::IrError> {
    let mut g = Graph::new(graph.name.clone());
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for &v in graph.inputs() {
        let val = graph.value(v);
        let nv = g.add_input(val.name.clone(), val.ty.clone());
        let mapped = match params.get(&v) {
            Some(&p) => qdq(&mut g, &val.name, nv, p)?,
            None => nv,
        };
        map.insert(v, mapped);
    }
    let weights: HashMap<ValueId, usize> = chosen.iter().map(|a| (a.weights, a.axis)).collect();
    let chosen_nodes: HashSet<NodeId> = chosen.iter().map(|a| a.node).collect();
    for n in graph.topo_order() {
        let nd = graph.node(n);
        let mut ins = Vec::with_capacity(nd.inputs.len());
        for (i, v) in nd.inputs.iter().enumerate() {
            let Some(v) = v else {
                ins.push(None);
                continue;
            };
            if let Some(&m) = map.get(v) {
                ins.push(Some(m));
                continue;
            }
            let Some(t) = graph.const_value(*v) else {
                return Err(neoc_ir::IrError::Internal(format!(
                    "quantize: value {} read before it is defined",
                    graph.value(*v).name
                )));
            };
            let name = graph.value(*v).name.clone();
            let nv = match weights.get(v) {
                Some(&axis) if i == 1 && chosen_nodes.contains(&n) => {
                    quantized_weights(&mut g, &name, t, axis)?
                }
                _ => {
                    let c = g.add_const(name, t.clone());
                    map.insert(*v, c);
                    c
                }
            };
            ins.push(Some(nv));
        }
        let names = nd
            .outputs
            .iter()
            .map(|&o| graph.value(o).name.clone())
            .collect();
        let outs = g.add_node_unfolded(nd.name.clone(), nd.op.clone(), ins, names)?;
        for (&o, &no) in nd.outputs.iter().zip(&outs) {
            let mapped = match params.get(&o) {
                Some(&p) => qdq(&mut g, &graph.value(o).name.clone(), no, p)?,
                None => no,
            };
            map.insert(o, mapped);
        }
    }
    let outs = graph
        .outputs()
        .iter()
        .map(|o| map.get(o).copied())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| neoc_ir::IrError::Internal("quantize: an output was not rebuilt".into()))?;
    g.set_outputs(outs);
    Ok(g)
}

/// `DequantizeLinear(QuantizeLinear(v))` (u8, `(scale, zero point)`) in the form the
/// ONNX importer gives them: Div, Round, Add, Clip, Cast to u8; Cast, Sub, Mul.
fn qdq(
    g: &mut Graph,
    base: &str,
    v: ValueId,
    (scale, zp): (f32, f32),
) -> Result<ValueId, neoc_ir::IrError> {
    let node = |g: &mut Graph, suffix: &str, op: Op, ins: Vec<ValueId>| {
        let name = format!("{base}/{suffix}");
        g.add_node_unfolded(
            &name,
            op,
            ins.into_iter().map(Some).collect(),
            vec![name.clone()],
        )
        .map(|o| o[0])
    };
    let s = g.add_const(format!("{base}/scale"), Tensor::from_f32(vec![], &[scale]));
    let z = g.add_const(
        format!("{base}/zero_point"),
        Tensor::from_f32(vec![], &[zp]),
    );
    let d = node(g, "q_scaled", Op::Binary(BinaryOp::Div), vec![v, s])?;
    let r = node(g, "q_rounded", Op::Unary(UnaryOp::Round), vec![d])?;
    let a = node(g, "q_shifted", Op::Binary(BinaryOp::Add), vec![r, z])?;
    let clip = Op::Unary(UnaryOp::Clip {
        min: 0.0,
        max: 255.0,
    });
    let c = node(g, "q_saturated", clip, vec![a])?;
    let q = node(g, "q", Op::Cast(Cast { to: DType::U8 }), vec![c])?;
    let f = node(g, "dq_f", Op::Cast(Cast { to: DType::F32 }), vec![q])?;
    let sub = node(g, "dq_centered", Op::Binary(BinaryOp::Sub), vec![f, z])?;
    node(g, "dq", Op::Binary(BinaryOp::Mul), vec![sub, s])
}

/// Per-channel symmetric int8 weights along `axis`, as the unfolded
/// `Mul(Cast<f32>(w_i8), scale)` the `int8-qdq` pass reads.
fn quantized_weights(
    g: &mut Graph,
    name: &str,
    t: &Tensor,
    axis: usize,
) -> Result<ValueId, neoc_ir::IrError> {
    let (q, scale) = quantize_weights(t, axis);
    let mut sshape = vec![1u64; t.shape.len() - axis];
    sshape[0] = t.shape[axis];
    let qc = g.add_const(
        format!("{name}/int8"),
        Tensor::from_i64_wrapping(DType::I8, t.shape.clone(), &q),
    );
    let sc = g.add_const(format!("{name}/scale"), Tensor::from_f32(sshape, &scale));
    let f = g.add_node_unfolded(
        format!("{name}/dq_f"),
        Op::Cast(Cast { to: DType::F32 }),
        vec![Some(qc)],
        vec![format!("{name}/dq_f")],
    )?[0];
    Ok(g.add_node_unfolded(
        format!("{name}/dq"),
        Op::Binary(BinaryOp::Mul),
        vec![Some(f), Some(sc)],
        vec![format!("{name}/dq")],
    )?[0])
}

/// (int8 values, per-channel scales) of `t` along `axis`.
pub(super) fn quantize_weights(t: &Tensor, axis: usize) -> (Vec<i64>, Vec<f32>) {
    let v = t.to_f32_vec();
    let channels = t.shape[axis] as usize;
    let inner: usize = t.shape[axis + 1..].iter().product::<u64>() as usize;
    let ch = |i: usize| (i / inner) % channels;
    let mut amax = vec![0f32; channels];
    for (i, x) in v.iter().enumerate() {
        amax[ch(i)] = amax[ch(i)].max(x.abs());
    }
    let scale: Vec<f32> = amax
        .iter()
        .map(|&a| if a > 0.0 { a / 127.0 } else { 1.0 })
        .collect();
    let q = v
        .iter()
        .enumerate()
        .map(|(i, x)| (x / scale[ch(i)]).round_ties_even().clamp(-127.0, 127.0) as i64)
        .collect();
    (q, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_symmetric_per_channel() {
        let t = Tensor::from_f32(vec![2, 3], &[1.27, -0.635, 0.0, 0.0, 0.0, 0.0]);
        let (q, s) = quantize_weights(&t, 0);
        assert_eq!(q, [127, -64, 0, 0, 0, 0]);
        assert_eq!(s, [0.01, 1.0]);
    }
}
