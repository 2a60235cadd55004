//! Folds an inference BatchNormalization into the Conv that feeds it.
//!
//! `bn(conv(x, w, b)) = conv(x, w * s, (b - mean) * s + beta)` with
//! `s = gamma / sqrt(var + eps)` per output channel. Sound when the conv's weights,
//! bias and all BN statistics are constants and the conv output has no other reader.
//! The arithmetic is done in f64 and rounded once.

use crate::Result;
use neoc_ir::ops::BatchNorm;
use neoc_ir::{DType, Graph, Op, Tensor, ValueDef, ValueId};

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut changed = false;
    for n in graph.topo_order() {
        let bn_node = graph.node(n).clone();
        let Op::BatchNorm(BatchNorm { epsilon }) = bn_node.op else {
            continue;
        };
        let Some(Some(x)) = bn_node.inputs.first().copied() else {
            continue;
        };
        let ValueDef::Node(conv_id, _) = graph.value(x).def else {
            continue;
        };
        let conv = graph.node(conv_id).clone();
        let Op::Conv(_) = conv.op else { continue };
        if graph.consumers(x).len() != 1 || graph.outputs().contains(&x) {
            continue;
        }
        let consts: Option<Vec<&Tensor>> = bn_node.inputs[1..]
            .iter()
            .map(|v| v.and_then(|v| graph.const_value(v)))
            .collect();
        let Some(stats) = consts else { continue };
        let Some(w) = conv
            .inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|v| graph.const_value(v))
        else {
            continue;
        };
        if w.dtype != DType::F32 {
            continue;
        }
        let bias = match conv.inputs.get(2).copied().flatten() {
            Some(b) => match graph.const_value(b) {
                Some(t) => Some(t.to_f64_vec()),
                None => continue,
            },
            None => None,
        };
        let [gamma, beta, mean, var] = [0, 1, 2, 3].map(|i| stats[i].to_f64_vec());
        let m = w.shape[0] as usize;
        let per = (w.num_elements() as usize) / m.max(1);
        let scale: Vec<f64> = (0..m)
            .map(|c| gamma[c] / (var[c] + f64::from(epsilon)).sqrt())
            .collect();
        let wv = w.to_f64_vec();
        let new_w: Vec<f64> = wv
            .iter()
            .enumerate()
            .map(|(i, v)| v * scale[i / per.max(1)])
            .collect();
        let new_b: Vec<f64> = (0..m)
            .map(|c| (bias.as_ref().map_or(0.0, |b| b[c]) - mean[c]) * scale[c] + beta[c])
            .collect();
        let w_name = format!(
            "{}.bn_folded",
            graph.value(conv.inputs[1].unwrap_or(ValueId(0))).name
        );
        let wid = graph.add_const(
            w_name,
            Tensor::from_f64_as(DType::F32, w.shape.clone(), &new_w),
        );
        let bid = graph.add_const(
            format!("{}.bias_bn_folded", conv.name),
            Tensor::from_f64_as(DType::F32, vec![m as u64], &new_b),
        );
        let inputs = vec![conv.inputs[0], Some(wid), Some(bid)];
        let out_name = graph.value(bn_node.outputs[0]).name.clone();
        let outs = graph.add_node(conv.name.clone(), conv.op.clone(), inputs, vec![out_name])?;
        graph.replace_uses(bn_node.outputs[0], outs[0])?;
        graph.remove_node(n);
        graph.remove_node(conv_id);
        changed = true;
    }
    Ok(changed)
}
