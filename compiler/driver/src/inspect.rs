//! Reports for `neoc inspect`: what a model contains and what an artifact needs.

use neoc_ir::{Graph, Op};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Floating-point operations of one inference (multiply-add = 2), per op type.
pub fn flops(graph: &Graph) -> BTreeMap<&'static str, u64> {
    let mut out: BTreeMap<&'static str, u64> = BTreeMap::new();
    for n in graph.topo_order() {
        let node = graph.node(n);
        let out_elems: u64 = node
            .outputs
            .first()
            .and_then(|v| graph.value(*v).ty.shape.num_elements())
            .unwrap_or(0);
        let in_dims = |i: usize| {
            node.inputs
                .get(i)
                .copied()
                .flatten()
                .and_then(|v| graph.value(v).ty.shape.as_fixed())
                .unwrap_or_default()
        };
        let f = match &node.op {
            Op::Conv(_) | Op::BlockedConv(_) => {
                let w = in_dims(1);
                let per_out: u64 = w.iter().skip(1).product();
                2 * out_elems * per_out
            }
            Op::Gemm(g) => {
                let a = in_dims(0);
                let k = if g.trans_a { a.first() } else { a.get(1) }
                    .copied()
                    .unwrap_or(0);
                2 * out_elems * k
            }
            Op::MatMul => {
                let a = in_dims(0);
                2 * out_elems * a.last().copied().unwrap_or(0)
            }
            Op::Pool(p) => out_elems * p.kernel.iter().product::<u64>(),
            Op::GlobalPool(_) => in_dims(0).iter().product(),
            Op::BatchNorm(_) => 2 * out_elems,
            Op::Softmax(_) => 4 * out_elems,
            Op::Unary(_) | Op::Binary(_) => out_elems,
            _ => 0,
        };
        *out.entry(node.op.name()).or_default() += f;
    }
    out
}

/// Human-readable count: 1.82 G, 11.7 M, 512.
pub fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2} G", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2} M", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} K", f / 1e3)
    } else {
        format!("{n}")
    }
}

/// Human-readable byte size.
pub fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if f >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", f / 1024.0 / 1024.0)
    } else if f >= 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// The text report for a source model (after import, before passes).
pub fn model_report(info: &neoc_onnx::ModelInfo, graph: Option<&Graph>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{info}");
    if let Some(g) = graph {
        let fl = flops(g);
        let total: u64 = fl.values().sum();
        let _ = writeln!(s, "FLOPs per inference: {} ({total})", human(total));
        for (op, f) in fl.iter().filter(|(_, f)| **f > 0) {
            let _ = writeln!(
                s,
                "  {op:<22} {:>10}  {:5.1}%",
                human(*f),
                100.0 * *f as f64 / total.max(1) as f64
            );
        }
    }
    s
}
