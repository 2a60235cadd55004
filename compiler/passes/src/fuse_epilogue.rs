//! Fuses elementwise operators into the Conv, Gemm or MatMul that produces their input,
//! as an epilogue applied while the output row is still in cache (bias, activation,
//! residual add: `Conv → Add → Relu` becomes one kernel).
//!
//! Guards: the anchor's output is f32, not a graph output, and read only by the
//! elementwise node; that node's output has the anchor output's shape and type (so the
//! epilogue writes exactly the anchor's output elements). Sound because the epilogue
//! evaluates the same scalar functions, in the same order, on each finished element;
//! results are bit-identical to the unfused graph.

use crate::fusion::{fuse_all, replace_pair, sole_elementwise_reader, Builder};
use crate::Result;
use neoc_ir::ops::{ElemInstr, Fused};
use neoc_ir::{Graph, Op, ValueId};

/// Ops that can carry an epilogue.
fn is_anchor(op: &Op) -> bool {
    match op {
        Op::Conv(_) | Op::Gemm(_) | Op::MatMul => true,
        Op::Fused(f) => is_anchor(&f.anchor),
        _ => false,
    }
}

pub fn run(graph: &mut Graph) -> Result<bool> {
    fuse_all(graph, fuse_one)
}

fn fuse_one(graph: &mut Graph) -> Result<bool> {
    for n in graph.topo_order() {
        let node = graph.node(n).clone();
        if !is_anchor(&node.op) || node.outputs.len() != 1 {
            continue;
        }
        let out = node.outputs[0];
        let out_ty = graph.value(out).ty.clone();
        if out_ty.dtype != neoc_ir::DType::F32 {
            continue;
        }
        let Some((reader, r)) = sole_elementwise_reader(graph, out) else {
            continue;
        };
        if graph.value(r.outputs[0]).ty != out_ty {
            continue;
        }
        // Start from the existing epilogue, or the identity `[in0]`.
        let (anchor, anchor_inputs, mut b, at) = match &node.op {
            Op::Fused(f) => {
                let b = Builder {
                    instrs: f.epilogue.instrs.clone(),
                    inputs: node.inputs[f.anchor_inputs..]
                        .iter()
                        .flatten()
                        .copied()
                        .collect(),
                    first_input: 1,
                };
                let at = b.instrs.len() - 1;
                ((*f.anchor).clone(), f.anchor_inputs, b, at)
            }
            op => {
                let b = Builder {
                    instrs: vec![ElemInstr::Input(0)],
                    inputs: Vec::new(),
                    first_input: 1,
                };
                (op.clone(), node.inputs.len(), b, 0)
            }
        };
        let r_ops: Vec<ValueId> = r.inputs.iter().flatten().copied().collect();
        let Some(result) = b.append(graph, &r.op, &r_ops, out, at) else {
            continue;
        };
        let (epilogue, extras) = b.finish(result);
        let mut inputs: Vec<Option<ValueId>> = node.inputs[..anchor_inputs].to_vec();
        inputs.extend(extras.into_iter().map(Some));
        let fused = Op::Fused(Fused {
            anchor: Box::new(anchor),
            anchor_inputs,
            epilogue,
        });
        replace_pair(graph, (n, &node), (reader, &r), fused, inputs)?;
        return Ok(true);
    }
    Ok(false)
}
