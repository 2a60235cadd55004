//! Dynamically quantized products (onnxruntime's `quantize_dynamic`) onto the int8
//! kernels' dequantizing epilogue.
//!
//! `quantize_dynamic` writes every MatMul (and Conv) as
//!
//! ```text
//! x_u8, xs, zx = DynamicQuantizeLinear(x)                scale, zero point: run time
//! acc = MatMulInteger(x_u8, w_i8, zx, 0)                 ConvInteger for convolutions
//! y = Mul(Cast<f32>(acc), Mul(xs, ws))                   ws: per tensor or per column
//! [Add(y, bias)]
//! ```
//!
//! The importer makes the integer product a `QConv` with `out=i32` and the run-time zero
//! point as its input 5 (a 1×1 QConv between Reshape views for matrix products). This
//! rule folds the Cast and the Mul into it: `out=f32` with `x_scale = xs` (input 6) and
//! `scale = ws` per output channel, which computes `f32(acc) · (xs · ws[m])`, the same
//! products in the same order, so the result is identical. The bias Add stays a float
//! elementwise op that the fusion passes merge with what follows.

use crate::patch::{producer, single_use, Patch, Wire};
use crate::Result;
use neoc_ir::ops::{BinaryOp, QConv, Reshape};
use neoc_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};

/// `Mul(Cast<f32>(QConv<i32>(..)), Mul(xs, ws))`, the QConv read through an optional
/// Reshape view, becomes the QConv with a dequantized output.
pub(super) fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Op::Binary(BinaryOp::Mul), [Some(a), Some(b)]) = (&node.op, node.inputs.as_slice()) else {
        return Ok(None);
    };
    let y = node.outputs[0];
    let Some((qn, view, acc_f)) = [*a, *b].into_iter().find_map(|v| product(graph, v, n)) else {
        return Ok(None);
    };
    let other = if acc_f == *a { *b } else { *a };
    let Some((xs, ws)) = scales(graph, other) else {
        return Ok(None);
    };
    let cn = graph.node(qn);
    let Op::QConv(q) = &cn.op else {
        return Ok(None);
    };
    let (Some(yd), Some(qd)) = (
        graph.value(y).ty.shape.as_fixed(),
        graph.value(cn.outputs[0]).ty.shape.as_fixed(),
    ) else {
        return Ok(None);
    };
    // The channel axis of `y`: the last one through a matrix product's view, else 1.
    let axis = if view.is_some() { yd.len() - 1 } else { 1 };
    let Some(scale) = per_channel(&ws, &yd, axis, qd[1]) else {
        return Ok(None);
    };
    let mut p = Patch::new();
    let name = &cn.name;
    let s = p.add_const(
        format!("{name}/w_scale"),
        Tensor::from_f32(vec![scale.len() as u64], &scale),
    );
    let op = Op::QConv(QConv {
        out: DType::F32,
        ..q.clone()
    });
    let wire = |i: usize| cn.inputs.get(i).copied().flatten().map(Wire::from);
    let ins = vec![
        wire(0),
        wire(1),
        wire(2),
        Some(s),
        None,
        wire(5),
        Some(xs.into()),
    ];
    let out_name = graph.value(y).name.clone();
    let result = match view {
        None => p.add_node(format!("{name}+dequantize"), op, ins, out_name),
        Some(_) => {
            let f = format!("{name}+dequantize");
            let q = p.add_node(f.clone(), op, ins, f);
            let shape = Reshape { shape: yd };
            p.add_node(
                format!("{}/view", node.name),
                Op::Reshape(shape),
                vec![Some(q)],
                out_name,
            )
        }
    };
    p.replace(y, result);
    p.remove_if_dead(n);
    Ok(Some(p))
}

/// `v = Cast<f32>(QConv<i32>(..))` or `Cast<f32>(Reshape(QConv<i32>(..)))`, each value
/// on the way read once (by `reader` at the end): the QConv, the Reshape, and `v`.
fn product(graph: &Graph, v: ValueId, reader: NodeId) -> Option<(NodeId, Option<NodeId>, ValueId)> {
    let cast_n = producer(graph, v)?;
    let cast = graph.node(cast_n);
    let (Op::Cast(c), [Some(i)]) = (&cast.op, cast.inputs.as_slice()) else {
        return None;
    };
    if c.to != DType::F32 || !single_use(graph, v, reader) {
        return None;
    }
    let mut p = producer(graph, *i)?;
    let mut view = None;
    if let (Op::Reshape(_), [Some(r)]) = (&graph.node(p).op, graph.node(p).inputs.as_slice()) {
        if !single_use(graph, *i, cast_n) {
            return None;
        }
        view = Some(p);
        let inner = producer(graph, *r)?;
        if !single_use(graph, *r, p) {
            return None;
        }
        p = inner;
    } else if !single_use(graph, *i, cast_n) {
        return None;
    }
    let Op::QConv(q) = &graph.node(p).op else {
        return None;
    };
    let inputs = &graph.node(p).inputs;
    let absent = |k: usize| inputs.get(k).copied().flatten().is_none();
    (q.out == DType::I32 && absent(3) && absent(4) && absent(6)).then_some((p, view, v))
}

/// `Mul(xs, ws)` (either order): `xs` a run-time f32 scalar, `ws` a constant f32 tensor.
fn scales(graph: &Graph, v: ValueId) -> Option<(ValueId, Tensor)> {
    let n = graph.node(producer(graph, v)?);
    let (Op::Binary(BinaryOp::Mul), [Some(a), Some(b)]) = (&n.op, n.inputs.as_slice()) else {
        return None;
    };
    let scalar_f32 = |v: ValueId| {
        let t = &graph.value(v).ty;
        t.dtype == DType::F32
            && graph.const_value(v).is_none()
            && t.shape
                .as_fixed()
                .is_some_and(|d| d.iter().product::<u64>() == 1)
    };
    let (xs, ws) = if scalar_f32(*a) { (*a, *b) } else { (*b, *a) };
    let wt = graph.const_value(ws)?;
    (scalar_f32(xs) && wt.dtype == DType::F32).then(|| (xs, wt.clone()))
}

/// The weight scale `ws`, broadcast against `y` (dims `yd`), as one value per output
/// channel (`m` of them along `axis`); `None` when it varies along another axis.
fn per_channel(ws: &Tensor, yd: &[u64], axis: usize, m: u64) -> Option<Vec<f32>> {
    let v = ws.to_f32_vec();
    if v.len() == 1 {
        return Some(vec![v[0]; m as usize]);
    }
    let wd = &ws.shape;
    if wd.len() > yd.len() || yd.get(axis) != Some(&m) {
        return None;
    }
    // Right-aligned: every dim of ws is 1 except the one over `axis`, of length m.
    let offset = yd.len() - wd.len();
    let ok = wd
        .iter()
        .enumerate()
        .all(|(i, &d)| if i + offset == axis { d == m } else { d == 1 });
    (ok && axis >= offset).then_some(v)
}
