//! `int8-qdq`: QDQ models (QuantizeLinear / DequantizeLinear around float Conv, Gemm
//! and MatMul, as onnxruntime's `quantize_static` writes them) onto the int8 kernels.
//!
//! After import a QDQ convolution reads (see `frontends/onnx/src/ops/quantize.rs`):
//!
//! ```text
//! x_f = Mul(Sub(Cast<f32>(x_u8), zx), sx)                activation, per tensor
//! w_f = Mul(Cast<f32>(w_i8 const), sw)                   weights (zero point 0), sw per tensor or [M,1,..]
//! b_f = constant                                       bias (optional): the folded DQ of an int32 bias
//! y_f = Conv(x_f, w_f, b_f)
//! [Relu] → Div(·, sy) → Round → Add(·, zy) → Clip → Cast<u8|i8>   output quantizer (optional)
//! ```
//!
//! The rule replaces that by one `QConv(x_u8, w_i8, bias_i32, scale)`: with the output
//! quantizer, `out=u8|i8`, `scale = (sx·sw[m])/sy` and the clamp range of the Clip
//! (raised to `zy` by a ReLU: `round(relu(v)/sy) = max(round(v/sy), 0)`); without it,
//! `out=f32` and `scale = sx·sw[m]`. The bias becomes `round(b_f / (sx·sw[m]))` — exactly
//! the stored int32 when the model quantized it with that scale, as onnxruntime does.
//! Gemm (`alpha = beta = 1`, A not transposed) and MatMul with a 2-D constant B become
//! a 1×1 QConv between Reshape views.
//!
//! A third rule folds `Q(MaxPool(DQ(x)))` with equal parameters into a MaxPool of the u8
//! tensor (exact: the maximum commutes with the increasing dequantization), and so the
//! importer's `Cast<u8>(MaxPool(Cast<f32>(x)))` of a u8 MaxPool (QOperator models). A fourth
//! ([`dynamic`]) gives dynamically quantized products (`quantize_dynamic` models) the
//! dequantizing epilogue.
//!
//! The result differs from the float evaluation of the QDQ graph only by rounding: at
//! most one quantum per requantized tensor. Runs before constant folding (which would
//! fold the weights' dequantization away); the DequantizeLinear/QuantizeLinear nodes it
//! leaves unread are removed by `dce`.

mod dynamic;

use crate::patch::{producer, rewrite, single_use, Patch, Wire};
use crate::Result;
use neoc_ir::ops::{BinaryOp, Conv, Pool, PoolKind, QConv, Reshape, UnaryOp};
use neoc_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};

pub fn run(graph: &mut Graph) -> Result<bool> {
    let anchors = rewrite(graph, rule)?;
    let residuals = rewrite(graph, residual_rule)?;
    let requants = rewrite(graph, requant_rule)?;
    let pools = rewrite(graph, max_pool_rule)?;
    let dynamic = rewrite(graph, dynamic::rule)?;
    Ok(anchors || residuals || requants || pools || dynamic)
}

/// `Q(MaxPool(DQ(x)))` with the QuantizeLinear's scale and zero point equal to the
/// DequantizeLinear's (as `quantize_static` writes them): the maximum commutes with the
/// increasing dequantization, and requantizing with the same parameters gives the
/// integer back, so this is `MaxPool(x)` on the u8 tensor, exactly. Only where every
/// window holds a tap of the image (the u8 kernel borders with 0).
fn max_pool_rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Op::Pool(p), [Some(x)]) = (&node.op, node.inputs.as_slice()) else {
        return Ok(None);
    };
    if p.kind != PoolKind::Max
        || node.outputs.len() != 1
        || !windows_inside(graph, p, *x, node.outputs[0])
    {
        return Ok(None);
    }
    if let Some((q, out)) = u8_cast_pool(graph, *x, node.outputs[0]) {
        return Ok(Some(u8_pool(graph, n, q, out)));
    }
    let Some(dq) = dequantized(graph, *x) else {
        return Ok(None);
    };
    if graph.value(dq.q).ty.dtype != DType::U8 || dq.scale.len() != 1 {
        return Ok(None);
    }
    let Some(o) = output_quantizer(graph, node.outputs[0]) else {
        return Ok(None);
    };
    if (o.dtype, o.min, o.max) != (DType::U8, 0, 255)
        || f64::from(o.zero) != dq.zero
        || o.y_scale != dq.scale[0]
    {
        return Ok(None);
    }
    Ok(Some(u8_pool(graph, n, dq.q, o.out)))
}

/// The max pool node `n` applied to the u8 tensor `q` itself, replacing `out`.
fn u8_pool(graph: &Graph, n: NodeId, q: ValueId, out: ValueId) -> Patch {
    let node = graph.node(n);
    let mut patch = Patch::new();
    let out_name = graph.value(out).name.clone();
    let new = patch.add_node(
        format!("{}/u8", node.name),
        node.op.clone(),
        vec![Some(Wire::from(q))],
        out_name,
    );
    patch.replace(out, new);
    patch.remove_if_dead(n);
    patch
}

/// `Cast<u8>(MaxPool(Cast<f32>(q)))` of a u8 tensor `q`, as the importer writes a
/// MaxPool of u8 (QOperator models pool the quantized tensor directly): `(q, the outer
/// Cast's output)`. The pool of `q` itself is exact (the maximum commutes with the
/// increasing conversion).
fn u8_cast_pool(graph: &Graph, x: ValueId, y: ValueId) -> Option<(ValueId, ValueId)> {
    let inner = graph.node(producer(graph, x)?);
    let (Op::Cast(c), [Some(q)]) = (&inner.op, inner.inputs.as_slice()) else {
        return None;
    };
    if c.to != DType::F32 || graph.value(*q).ty.dtype != DType::U8 {
        return None;
    }
    let readers = graph.consumers(y);
    let [r] = readers[..] else { return None };
    if !single_use(graph, y, r) {
        return None;
    }
    let outer = graph.node(r);
    match &outer.op {
        Op::Cast(c) if c.to == DType::U8 => Some((*q, outer.outputs[0])),
        _ => None,
    }
}

/// Dilation 1, begin pads smaller than the window, and the last window of each axis
/// starting inside the image: no window is all padding.
fn windows_inside(graph: &Graph, p: &Pool, x: ValueId, y: ValueId) -> bool {
    let (Some(xd), Some(yd)) = (
        graph.value(x).ty.shape.as_fixed(),
        graph.value(y).ty.shape.as_fixed(),
    ) else {
        return false;
    };
    let k = p.kernel.len();
    if !(1..=2).contains(&k) || xd.len() != k + 2 || yd.len() != k + 2 {
        return false;
    }
    (0..k).all(|d| {
        let (size, out) = (xd[2 + d] as i64, yd[2 + d] as i64);
        let (kernel, stride, pad) = (p.kernel[d] as i64, p.strides[d] as i64, p.pads[d] as i64);
        p.dilations[d] == 1 && pad < kernel && out >= 1 && (out - 1) * stride - pad < size
    })
}

/// `Q(Relu?(DQ(QConv(..))))`, a requantization of a requantized output (operator-form
/// models whose ReLU stayed float), folded into the QConv's own output conversion.
fn requant_rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    if !matches!(node.op, Op::Binary(BinaryOp::Mul)) {
        return Ok(None);
    }
    let Some(dq) = dequantized(graph, node.outputs[0]) else {
        return Ok(None);
    };
    let Some(p) = producer(graph, dq.q) else {
        return Ok(None);
    };
    let cn = graph.node(p);
    let Op::QConv(q) = &cn.op else {
        return Ok(None);
    };
    let single = graph.consumers(dq.q).len() == 1 && !graph.outputs().contains(&dq.q);
    if !(q.out == DType::U8 && q.y_min == 0 && q.y_max == 255 && single && dq.scale.len() == 1)
        || cn.inputs.get(4).copied().flatten().is_some()
        || f64::from(q.y_zero) != dq.zero
    {
        return Ok(None);
    }
    let Some(o) = output_quantizer(graph, node.outputs[0]) else {
        return Ok(None);
    };
    let mut patch = Patch::new();
    let scales = (dq.scale[0], o.y_scale);
    let Some(s) = rescaled_scales(graph, p, scales, &mut patch, "scale_requantized") else {
        return Ok(None);
    };
    let name = &cn.name;
    let op = Op::QConv(QConv {
        out: o.dtype,
        y_zero: o.zero,
        y_min: o.min,
        y_max: o.max,
        ..q.clone()
    });
    let wire = |i: usize| cn.inputs.get(i).copied().flatten().map(Wire::from);
    let out_name = graph.value(o.out).name.clone();
    let new = patch.add_node(
        format!("{name}+requantize"),
        op,
        vec![wire(0), wire(1), wire(2), Some(s)],
        out_name,
    );
    patch.replace(o.out, new);
    patch.remove_if_dead(p);
    Ok(Some(patch))
}

/// A residual block's tail, `Q(Relu?(DQ(QConv(..)) + DQ(skip)))`, folded into the
/// QConv: it reads `skip` (u8) as its residual input and quantizes the sum directly
/// (the QConv's own output rounding disappears: closer to the float graph, not
/// farther). The QConv must be requantizing to u8 without a lower clamp of its own and
/// be read only through that DequantizeLinear.
fn residual_rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let node = graph.node(n);
    let (Op::Binary(BinaryOp::Add), [Some(a), Some(b)]) = (&node.op, node.inputs.as_slice()) else {
        return Ok(None);
    };
    let conv_side = |v: ValueId| -> Option<(NodeId, Dq)> {
        let dq = dequantized(graph, v)?;
        let p = producer(graph, dq.q)?;
        let qn = graph.node(p);
        let Op::QConv(q) = &qn.op else { return None };
        let chain_single = graph.consumers(dq.q).len() == 1
            && !graph.outputs().contains(&dq.q)
            && qn.inputs.get(4).copied().flatten().is_none();
        (q.out == DType::U8 && q.y_min == 0 && chain_single && dq.scale.len() == 1)
            .then_some((p, dq))
    };
    let (conv, c_dq, skip) = match (conv_side(*a), conv_side(*b)) {
        (Some((p, d)), _) => (p, d, *b),
        (None, Some((p, d))) => (p, d, *a),
        _ => return Ok(None),
    };
    let Some(skip) = dequantized(graph, skip) else {
        return Ok(None);
    };
    if graph.value(skip.q).ty.dtype != DType::U8 || skip.scale.len() != 1 {
        return Ok(None);
    }
    let Some(o) = output_quantizer(graph, node.outputs[0]) else {
        return Ok(None);
    };
    if o.dtype != DType::U8 {
        return Ok(None);
    }
    let cn = graph.node(conv);
    let Op::QConv(q) = &cn.op else {
        return Ok(None);
    };
    let mut p = Patch::new();
    let scales = (c_dq.scale[0], o.y_scale);
    let Some(s) = rescaled_scales(graph, conv, scales, &mut p, "scale_residual") else {
        return Ok(None);
    };
    let name = &cn.name;
    let op = Op::QConv(QConv {
        out: o.dtype,
        y_zero: o.zero,
        y_min: o.min,
        y_max: o.max,
        res_zero: skip.zero as i32,
        res_scale: skip.scale[0] / o.y_scale,
        ..q.clone()
    });
    let wire = |i: usize| cn.inputs.get(i).copied().flatten().map(Wire::from);
    let out_name = graph.value(o.out).name.clone();
    let new = p.add_node(
        format!("{name}+{}", node.name),
        op,
        vec![wire(0), wire(1), wire(2), Some(s), Some(skip.q.into())],
        out_name,
    );
    p.replace(o.out, new);
    p.remove_if_dead(conv);
    Ok(Some(p))
}

/// A dequantized tensor: the integer value, its zero point and scale(s).
struct Dq {
    q: ValueId,
    zero: f64,
    scale: Vec<f32>,
}

/// `Mul(Sub(Cast<f32>(q), zp) | Cast<f32>(q), scale)` with constant zp and scale.
fn dequantized(graph: &Graph, v: ValueId) -> Option<Dq> {
    let mul = graph.node(producer(graph, v)?);
    let (Op::Binary(BinaryOp::Mul), [Some(a), Some(s)]) = (&mul.op, mul.inputs.as_slice()) else {
        return None;
    };
    let st = graph.const_value(*s)?;
    if st.dtype != DType::F32 {
        return None;
    }
    let scale = st.to_f32_vec();
    let mut inner = graph.node(producer(graph, *a)?);
    let mut zero = 0.0;
    if let (Op::Binary(BinaryOp::Sub), [Some(c), Some(z)]) = (&inner.op, inner.inputs.as_slice()) {
        let zt = graph.const_value(*z)?;
        if zt.num_elements() != 1 {
            return None;
        }
        zero = zt.to_f64_vec()[0];
        inner = graph.node(producer(graph, *c)?);
    }
    match (&inner.op, inner.inputs.as_slice()) {
        (Op::Cast(c), [Some(q)]) if c.to == DType::F32 => Some(Dq { q: *q, zero, scale }),
        _ => None,
    }
}

/// The output quantizer after `y` (through an optional Relu): the Cast node's output,
/// its type, 1/sy, zy and the clamp range; every intermediate read once.
struct OutQ {
    out: ValueId,
    dtype: DType,
    y_scale: f32,
    zero: i32,
    min: i32,
    max: i32,
}

fn output_quantizer(graph: &Graph, y: ValueId) -> Option<OutQ> {
    let next = |v: ValueId| -> Option<NodeId> {
        let readers = graph.consumers(v);
        let [r] = readers[..] else { return None };
        single_use(graph, v, r).then_some(r)
    };
    let mut n = graph.node(next(y)?);
    let mut relu = false;
    if let Op::Unary(UnaryOp::Relu) = n.op {
        relu = true;
        n = graph.node(next(n.outputs[0])?);
    }
    let (Op::Binary(BinaryOp::Div), [_, Some(s)]) = (&n.op, n.inputs.as_slice()) else {
        return None;
    };
    let y_scale = crate::pattern::scalar(graph, *s)? as f32;
    let n = graph.node(next(n.outputs[0])?);
    if n.op != Op::Unary(UnaryOp::Round) {
        return None;
    }
    let mut n = graph.node(next(n.outputs[0])?);
    let mut zero = 0i32;
    if let (Op::Binary(BinaryOp::Add), [_, Some(z)]) = (&n.op, n.inputs.as_slice()) {
        zero = crate::pattern::scalar(graph, *z)? as i32;
        n = graph.node(next(n.outputs[0])?);
    }
    let Op::Unary(UnaryOp::Clip { min, max }) = n.op else {
        return None;
    };
    let cast = graph.node(next(n.outputs[0])?);
    let Op::Cast(c) = &cast.op else { return None };
    let range = match c.to {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        _ => return None,
    };
    let (mut lo, hi) = ((min as i32).max(range.0), (max as i32).min(range.1));
    if relu {
        lo = lo.max(zero);
    }
    Some(OutQ {
        out: cast.outputs[0],
        dtype: c.to,
        y_scale,
        zero,
        min: lo,
        max: hi,
    })
}

/// What the matched anchor computes, normalised to a convolution.
struct Anchor {
    conv: Conv,
    x: Dq,
    w: Dq,
    /// The i8 weights as `[M, C/group, k...]` (transposed for matrix products).
    w_i8: Vec<i64>,
    w_shape: Vec<u64>,
    bias: Option<Vec<f64>>,
    /// Matrix products: A's dims (the QConv runs on `[rows, K, 1, 1]`).
    matrix: Option<Vec<u64>>,
}

fn anchor(graph: &Graph, n: NodeId) -> Option<Anchor> {
    let node = graph.node(n);
    let input = |i: usize| node.inputs.get(i).copied().flatten();
    let x = dequantized(graph, input(0)?)?;
    let w = dequantized(graph, input(1)?)?;
    let act = graph.value(x.q).ty.dtype;
    if !matches!(act, DType::U8 | DType::I8) || x.scale.len() != 1 || w.zero != 0.0 {
        return None;
    }
    let wt = graph.const_value(w.q)?;
    if wt.dtype != DType::I8 {
        return None;
    }
    let bias = |i: usize| -> Option<Option<Vec<f64>>> {
        match input(i) {
            None => Some(None),
            Some(b) => match dequantized(graph, b) {
                Some(d) => {
                    let t = graph.const_value(d.q)?;
                    let s = &d.scale;
                    let v = t.to_f64_vec();
                    Some(Some(
                        v.iter()
                            .enumerate()
                            .map(|(i, q)| {
                                (q - d.zero) * f64::from(s[if s.len() == 1 { 0 } else { i }])
                            })
                            .collect(),
                    ))
                }
                None => graph.const_value(b).map(|t| Some(t.to_f64_vec())),
            },
        }
    };
    let vals = wt
        .to_f64_vec()
        .iter()
        .map(|&v| v as i64)
        .collect::<Vec<_>>();
    let one = || Conv {
        kernel: vec![1, 1],
        strides: vec![1, 1],
        pads: vec![0; 4],
        dilations: vec![1, 1],
        group: 1,
    };
    let transpose = |vals: &[i64], k: u64, n: u64| -> Vec<i64> {
        let mut t = vec![0; vals.len()];
        for (i, v) in vals.iter().enumerate() {
            let (kk, nn) = (i as u64 / n, i as u64 % n);
            t[(nn * k + kk) as usize] = *v;
        }
        t
    };
    match &node.op {
        Op::Conv(c) => Some(Anchor {
            conv: c.clone(),
            w_shape: wt.shape.clone(),
            w_i8: vals,
            bias: bias(2)?,
            x,
            w,
            matrix: None,
        }),
        Op::Gemm(g) if g.alpha == 1.0 && g.beta == 1.0 && !g.trans_a => {
            let (k, m) = if g.trans_b {
                (wt.shape[1], wt.shape[0])
            } else {
                (wt.shape[0], wt.shape[1])
            };
            let w_i8 = if g.trans_b {
                vals
            } else {
                transpose(&vals, k, m)
            };
            // Gemm's C broadcasts over [M, N]; only a per-column bias [N] (or [1, N]) fits.
            let b = bias(2)?;
            if let Some(c) = input(2) {
                let cd = graph.value(c).ty.shape.as_fixed()?;
                if cd.iter().product::<u64>() != m || cd.last() != Some(&m) {
                    return None;
                }
            }
            Some(Anchor {
                conv: one(),
                w_shape: vec![m, k, 1, 1],
                w_i8,
                bias: b,
                matrix: Some(graph.value(node.inputs[0]?).ty.shape.as_fixed()?),
                x,
                w,
            })
        }
        Op::MatMul if wt.shape.len() == 2 => {
            let (k, m) = (wt.shape[0], wt.shape[1]);
            let ad = graph.value(node.inputs[0]?).ty.shape.as_fixed()?;
            (ad.len() >= 2).then_some(())?;
            Some(Anchor {
                conv: one(),
                w_shape: vec![m, k, 1, 1],
                w_i8: transpose(&vals, k, m),
                bias: None,
                matrix: Some(ad),
                x,
                w,
            })
        }
        _ => None,
    }
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let Some(a) = anchor(graph, n) else {
        return Ok(None);
    };
    let node = graph.node(n);
    let y = node.outputs[0];
    let m = a.w_shape[0] as usize;
    let sw = |i: usize| a.w.scale[if a.w.scale.len() == 1 { 0 } else { i }];
    if !(a.w.scale.len() == 1 || a.w.scale.len() == m) {
        return Ok(None);
    }
    let acc_scale: Vec<f32> = (0..m).map(|i| a.x.scale[0] * sw(i)).collect();
    let outq = output_quantizer(graph, y);
    let (out, y_zero, y_min, y_max, scale) = match &outq {
        Some(o) => (
            o.dtype,
            o.zero,
            o.min,
            o.max,
            acc_scale
                .iter()
                .map(|s| s / o.y_scale)
                .collect::<Vec<f32>>(),
        ),
        None => (DType::F32, 0, 0, 0, acc_scale.clone()),
    };
    let name = &node.name;
    let mut p = Patch::new();
    let w = p.add_const(
        format!("{name}/w_i8"),
        Tensor::from_i64_wrapping(DType::I8, a.w_shape.clone(), &a.w_i8),
    );
    let bias = a.bias.as_ref().map(|b| {
        let q: Vec<i64> = (0..m)
            .map(|i| {
                (b[if b.len() == 1 { 0 } else { i }] / f64::from(acc_scale[i])).round_ties_even()
                    as i64
            })
            .collect();
        p.add_const(
            format!("{name}/bias_i32"),
            Tensor::from_i64_wrapping(DType::I32, vec![m as u64], &q),
        )
    });
    let s = p.add_const(
        format!("{name}/scale"),
        Tensor::from_f32(vec![m as u64], &scale),
    );
    let op = Op::QConv(QConv {
        conv: a.conv.clone(),
        x_zero: a.x.zero as i32,
        out,
        y_zero,
        y_min,
        y_max,
        res_zero: 0,
        res_scale: 0.0,
    });
    let final_out = outq.as_ref().map_or(y, |o| o.out);
    let out_name = graph.value(final_out).name.clone();
    let x: Wire = match &a.matrix {
        None => a.x.q.into(),
        Some(ad) => {
            let k = ad[ad.len() - 1];
            let rows: u64 = ad[..ad.len() - 1].iter().product();
            p.add_node(
                format!("{name}/rows"),
                Op::Reshape(Reshape {
                    shape: vec![rows, k, 1, 1],
                }),
                vec![Some(a.x.q.into())],
                format!("{name}/rows"),
            )
        }
    };
    let result = match &a.matrix {
        None => p.add_node(
            name.clone(),
            op,
            vec![Some(x), Some(w), bias, Some(s)],
            out_name,
        ),
        Some(_) => {
            let q = p.add_node(
                format!("{name}/int8"),
                op,
                vec![Some(x), Some(w), bias, Some(s)],
                format!("{name}/int8"),
            );
            let shape = graph
                .value(final_out)
                .ty
                .shape
                .as_fixed()
                .unwrap_or_default();
            p.add_node(
                name.clone(),
                Op::Reshape(Reshape { shape }),
                vec![Some(q)],
                out_name,
            )
        }
    };
    p.replace(final_out, result);
    p.remove_if_dead(n);
    Ok(Some(p))
}

/// QConv `conv`'s constant output scales (its input 3), each `s · mul / div`, added to
/// `patch` as `<node name>/<what>`; `None` when they are not a constant.
fn rescaled_scales(
    graph: &Graph,
    conv: NodeId,
    (mul, div): (f32, f32),
    patch: &mut Patch,
    what: &str,
) -> Option<Wire> {
    let cn = graph.node(conv);
    let old = cn
        .inputs
        .get(3)
        .copied()
        .flatten()
        .and_then(|s| graph.const_value(s))?;
    let scale: Vec<f32> = old.to_f32_vec().iter().map(|s| s * mul / div).collect();
    Some(patch.add_const(
        format!("{}/{what}", cn.name),
        Tensor::from_f32(vec![scale.len() as u64], &scale),
    ))
}
