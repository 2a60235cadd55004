//! Folds multiplications and additions by constants into the weights and bias of an
//! adjacent Conv or Gemm with constant weights.
//!
//! Before the op (`c` constant, scalar or one value per *input* channel: axis 1 of the
//! Conv input, the K axis of Gemm's `A`):
//!
//! - `conv(x * c, w, b) = conv(x, w * c, b)`, scaling input-channel slice `j` of `w`
//!   (dim 1, per group). Sound with any padding: zero padding of `x * c` is zero padding
//!   of `x` times `c`, because `0 * c = 0` for finite `c` (non-finite `c` is refused).
//! - `conv(x + c, w, b) = conv(x, w, b + Σ_{j,k} w[o,j,k] * c[j])`. **Guard: all pads are
//!   0.** With padding the border windows read zeros, not `c`, so the constant term would
//!   differ at the border.
//! - `gemm(A * c, B, C) = gemm(A, c * B, C)` (row `k` of `op(B)` scaled by `c[k]`);
//!   `gemm(A + c, B, C) = gemm(A, B, beta * C + alpha * c @ op(B))` with `beta' = 1`.
//!
//! After the op (`c` scalar or one value per *output* channel: axis 1 of the Conv output,
//! the columns of the Gemm output; for Gemm + `c`, any `c` that broadcasts to the output):
//!
//! - `conv(x, w, b) * c = conv(x, w * c, b * c)`; `conv(x, w, b) + c = conv(x, w, b + c)`.
//! - `gemm(A, B, C) * c = gemm(A, op(B) * c, beta * C * c)`;
//!   `gemm(A, B, C) + c = gemm(A, B, beta * C + c)`, both with `beta' = 1`.
//!
//! `x - c` is `x + (-c)` and `x / c` is `x * (1 / c)` (`c` non-zero); `c * x` and `c + x`
//! commute. Guards common to all: float dtypes; the constant does not broadcast the
//! other operand to a larger shape; the intermediate value (the Mul/Add before, the
//! Conv/Gemm after) has no other reader and is not a graph output. New weights are
//! computed in `f64` and rounded once, so the result differs from the unfolded graph by
//! rounding only (reassociation of one multiply or add).

use crate::consts::scale_along;
use crate::consts::{all_finite, broadcast, broadcast_to, channel_values, optional_const};
use crate::patch::{producer, rewrite, single_use, Patch, Wire};
use crate::Result;
use neoc_ir::ops::{BinaryOp, Conv, Gemm};
use neoc_ir::{Graph, NodeId, Op, Tensor, ValueId};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, |g, n| {
        Ok(match &g.node(n).op {
            Op::Conv(_) | Op::Gemm(_) => before(g, n),
            Op::Binary(_) => after(g, n),
            _ => None,
        })
    })
}

/// An elementwise `x op c` by a constant, normalised to a scale or a shift.
enum Affine<'a> {
    Scale(&'a Tensor, bool),
    Shift(&'a Tensor, bool),
}

impl Affine<'_> {
    /// Values of the constant along `axis` of a rank-`rank` operand, with the
    /// reciprocal / negation applied; `None` when it varies along another axis or is
    /// not usable (non-finite, zero divisor).
    fn channel(&self, rank: usize, axis: usize, len: u64) -> Option<Vec<f64>> {
        let (t, _) = self.parts();
        let v = channel_values(t, rank, axis, len)?;
        self.map(v)
    }

    fn parts(&self) -> (&Tensor, bool) {
        match *self {
            Affine::Scale(t, inv) | Affine::Shift(t, inv) => (t, inv),
        }
    }

    fn map(&self, v: Vec<f64>) -> Option<Vec<f64>> {
        let v: Vec<f64> = match *self {
            Affine::Scale(_, true) => v.iter().map(|x| 1.0 / x).collect(),
            Affine::Shift(_, true) => v.iter().map(|x| -x).collect(),
            _ => v,
        };
        all_finite(&v).then_some(v)
    }
}

/// Splits binary node `n` into (its non-constant operand, the constant as an affine
/// map) when it is `x * c`, `c * x`, `x / c`, `x + c`, `c + x` or `x - c` and `c`
/// does not enlarge `x`.
fn split(graph: &Graph, n: NodeId) -> Option<(ValueId, Affine<'_>)> {
    let node = graph.node(n);
    let (Op::Binary(op), [Some(a), Some(b)], [out]) =
        (&node.op, node.inputs.as_slice(), node.outputs.as_slice())
    else {
        return None;
    };
    let (ca, cb) = (graph.const_value(*a), graph.const_value(*b));
    let (x, c, right) = match (ca, cb) {
        (None, Some(c)) => (*a, c, true),
        (Some(c), None) => (*b, c, false),
        _ => return None,
    };
    let ty = &graph.value(x).ty;
    if !ty.dtype.is_float() || *ty != graph.value(*out).ty || c.dtype != ty.dtype {
        return None;
    }
    let affine = match (op, right) {
        (BinaryOp::Mul, _) => Affine::Scale(c, false),
        (BinaryOp::Div, true) => Affine::Scale(c, true),
        (BinaryOp::Add, _) => Affine::Shift(c, false),
        (BinaryOp::Sub, true) => Affine::Shift(c, true),
        _ => return None,
    };
    Some((x, affine))
}

/// Constant weight and optional constant bias of a Conv or Gemm node.
fn params(graph: &Graph, n: NodeId) -> Option<(ValueId, &Tensor, Option<&Tensor>)> {
    let node = graph.node(n);
    let w_id = node.inputs.get(1).copied().flatten()?;
    let w = graph.const_value(w_id)?;
    let b = optional_const(graph, node.inputs.get(2).copied().flatten())?;
    (w.dtype.is_float() && b.is_none_or(|b| b.dtype == w.dtype)).then_some((w_id, w, b))
}

/// The new node for `n` with data input `x`, weight `w` and bias `b` (values), and a
/// patch that replaces `old` (the value whose readers move) with it.
#[allow(clippy::too_many_arguments)]
fn rebuild(
    graph: &Graph,
    n: NodeId,
    op: Op,
    x: ValueId,
    w: Option<(Vec<f64>, &Tensor, &str)>,
    b: Option<(Vec<f64>, Vec<u64>)>,
    old: ValueId,
    remove: &[NodeId],
) -> Patch {
    let node = graph.node(n);
    let mut p = Patch::new();
    let w_wire = match w {
        Some((vals, t, name)) => Some(p.add_const(
            format!("{name}.scaled"),
            Tensor::from_f64_as(t.dtype, t.shape.clone(), &vals),
        )),
        None => node.inputs.get(1).copied().flatten().map(Wire::from),
    };
    let dtype = graph.value(x).ty.dtype;
    let b_wire = match b {
        Some((vals, dims)) => Some(p.add_const(
            format!("{}.bias_folded", node.name),
            Tensor::from_f64_as(dtype, dims, &vals),
        )),
        None => node.inputs.get(2).copied().flatten().map(Wire::from),
    };
    let mut inputs = vec![Some(x.into()), w_wire];
    if b_wire.is_some() {
        inputs.push(b_wire);
    }
    let out = p.add_node(node.name.clone(), op, inputs, graph.value(old).name.clone());
    p.replace(old, out);
    for &r in remove {
        p.remove_if_dead(r);
    }
    p
}

/// Conv/Gemm node `n` whose data input is `x op c`.
fn before(graph: &Graph, n: NodeId) -> Option<Patch> {
    let node = graph.node(n);
    let a = node.inputs.first().copied().flatten()?;
    let mul = producer(graph, a)?;
    if !single_use(graph, a, n) {
        return None;
    }
    let (x, affine) = split(graph, mul)?;
    let (w_id, w, bias) = params(graph, n)?;
    let w_name = graph.value(w_id).name.clone();
    let out = node.outputs[0];
    let mut wv = w.to_f64_vec();
    let (op, new_w, new_b) = match &node.op {
        Op::Conv(conv) => {
            let Conv { pads, group, .. } = conv;
            let (cout, cin_g) = (*w.shape.first()?, *w.shape.get(1)?);
            let cin = cin_g * group;
            let c = affine.channel(w.shape.len(), 1, cin)?;
            let ksz: u64 = w.shape[2..].iter().product();
            let per_group = cout / group;
            // Input channel read by weight element i.
            let chan = |i: usize| {
                let i = i as u64;
                let (o, j) = (i / (cin_g * ksz), (i / ksz) % cin_g);
                ((o / per_group) * cin_g + j) as usize
            };
            match affine {
                Affine::Scale(..) => {
                    for (i, v) in wv.iter_mut().enumerate() {
                        *v *= c[chan(i)];
                    }
                    (node.op.clone(), Some(wv), None)
                }
                Affine::Shift(..) => {
                    if pads.iter().any(|&p| p != 0) {
                        return None;
                    }
                    let mut b = bias.map_or(vec![0.0; cout as usize], |b| b.to_f64_vec());
                    for (i, v) in wv.iter().enumerate() {
                        b[i / (cin_g * ksz) as usize] += v * c[chan(i)];
                    }
                    (node.op.clone(), None, Some((b, vec![cout])))
                }
            }
        }
        Op::Gemm(g) => {
            let g = *g;
            let (k_axis_a, k_axis_b) = (usize::from(!g.trans_a), usize::from(g.trans_b));
            let k = *w.shape.get(k_axis_b)?;
            let c = affine.channel(2, k_axis_a, k)?;
            match affine {
                Affine::Scale(..) => {
                    scale_along(&mut wv, &w.shape, k_axis_b, &c);
                    (node.op.clone(), Some(wv), None)
                }
                Affine::Shift(..) => {
                    // delta[n] = alpha * Σ_k c[k] * op(B)[k, n]
                    let n_axis = 1 - k_axis_b;
                    let cols = w.shape[n_axis] as usize;
                    let mut delta = vec![0.0; cols];
                    let st = neoc_ir::shape::strides(&w.shape);
                    for (i, v) in wv.iter().enumerate() {
                        let kk = (i as u64 / st[k_axis_b]) % w.shape[k_axis_b];
                        let nn = (i as u64 / st[n_axis]) % w.shape[n_axis];
                        delta[nn as usize] += f64::from(g.alpha) * v * c[kk as usize];
                    }
                    let (cv, cd) = match bias {
                        Some(b) => (b.to_f64_vec(), b.shape.clone()),
                        None => (vec![0.0], vec![]),
                    };
                    let dims = broadcast(&cd, &[cols as u64])?;
                    let mut new_c = broadcast_to(&cv, &cd, &dims);
                    for (i, v) in new_c.iter_mut().enumerate() {
                        *v = *v * f64::from(g.beta) + delta[i % cols];
                    }
                    (Op::Gemm(Gemm { beta: 1.0, ..g }), None, Some((new_c, dims)))
                }
            }
        }
        _ => return None,
    };
    let new_w = new_w.map(|wv| (wv, w, w_name.as_str()));
    Some(rebuild(graph, n, op, x, new_w, new_b, out, &[n, mul]))
}

/// Binary node `n` computing `y op c` where `y` is a Conv/Gemm output.
fn after(graph: &Graph, n: NodeId) -> Option<Patch> {
    let (y, affine) = split(graph, n)?;
    let anchor = producer(graph, y)?;
    if !single_use(graph, y, n) {
        return None;
    }
    let (w_id, w, bias) = params(graph, anchor)?;
    let w_name = graph.value(w_id).name.clone();
    let anchor_node = graph.node(anchor);
    let x = anchor_node.inputs.first().copied().flatten()?;
    let out = graph.node(n).outputs[0];
    let out_dims = graph.value(out).ty.shape.as_fixed()?;
    let mut wv = w.to_f64_vec();
    let (op, new_w, new_b) = match &anchor_node.op {
        Op::Conv(_) => {
            let cout = *w.shape.first()?;
            let c = affine.channel(out_dims.len(), 1, cout)?;
            let mut b = bias.map(|b| b.to_f64_vec());
            let op = anchor_node.op.clone();
            match affine {
                Affine::Scale(..) => {
                    scale_along(&mut wv, &w.shape, 0, &c);
                    let b = b.map(|mut b| {
                        b.iter_mut().zip(&c).for_each(|(v, s)| *v *= s);
                        (b, vec![cout])
                    });
                    (op, Some(wv), b)
                }
                Affine::Shift(..) => {
                    let mut bv = b.take().unwrap_or_else(|| vec![0.0; cout as usize]);
                    bv.iter_mut().zip(&c).for_each(|(v, s)| *v += s);
                    (op, None, Some((bv, vec![cout])))
                }
            }
        }
        Op::Gemm(g) => {
            let g = *g;
            let cols = *out_dims.get(1)?;
            let (cv, cd) = match bias {
                Some(b) => (b.to_f64_vec(), b.shape.clone()),
                None => (vec![0.0], vec![]),
            };
            let op = Op::Gemm(Gemm { beta: 1.0, ..g });
            match affine {
                Affine::Scale(..) => {
                    let c = affine.channel(2, 1, cols)?;
                    scale_along(&mut wv, &w.shape, usize::from(!g.trans_b), &c);
                    let b = if bias.is_some() {
                        let dims = broadcast(&cd, &[cols])?;
                        let mut new_c = broadcast_to(&cv, &cd, &dims);
                        for (i, v) in new_c.iter_mut().enumerate() {
                            *v *= f64::from(g.beta) * c[i % cols as usize];
                        }
                        Some((new_c, dims))
                    } else {
                        None
                    };
                    (op, Some(wv), b)
                }
                Affine::Shift(t, _) => {
                    let sv = affine.map(t.to_f64_vec())?;
                    let dims = broadcast(&cd, &t.shape)?;
                    let c_full = broadcast_to(&cv, &cd, &dims);
                    let s_full = broadcast_to(&sv, &t.shape, &dims);
                    let new_c: Vec<f64> = c_full
                        .iter()
                        .zip(&s_full)
                        .map(|(c, s)| c * f64::from(g.beta) + s)
                        .collect();
                    (op, None, Some((new_c, dims)))
                }
            }
        }
        _ => return None,
    };
    let new_w = new_w.map(|wv| (wv, w, w_name.as_str()));
    Some(rebuild(
        graph,
        anchor,
        op,
        x,
        new_w,
        new_b,
        out,
        &[n, anchor],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::UnaryOp;

    fn conv(pads: u64, group: u64) -> Op {
        Op::Conv(Conv {
            kernel: vec![3, 3],
            strides: vec![1, 1],
            pads: vec![pads; 4],
            dilations: vec![1, 1],
            group,
        })
    }

    fn bin(op: BinaryOp) -> Op {
        Op::Binary(op)
    }

    /// x → (x op c) → Conv(pads, group); returns the graph.
    fn pre_conv(op: BinaryOp, c_dims: &[u64], pads: u64, group: u64, bias: bool) -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 4, 6, 6]));
        let c = konst(&mut g, "c", c_dims, |i| 0.5 + i as f32 * 0.25);
        let m = node(&mut g, bin(op), &[x, c]);
        let w = konst(&mut g, "w", &[6, 4 / group, 3, 3], |i| {
            ((i * 7) % 11) as f32 * 0.1 - 0.5
        });
        let mut ins = vec![m, w];
        if bias {
            ins.push(konst(&mut g, "b", &[6], |i| i as f32));
        }
        let y = node(&mut g, conv(pads, group), &ins);
        g.set_outputs(vec![y]);
        g
    }

    #[test]
    fn scale_before_conv_folds_with_padding_and_groups() {
        for (op, dims) in [
            (BinaryOp::Mul, &[4u64, 1, 1][..]),
            (BinaryOp::Mul, &[][..]),
            (BinaryOp::Div, &[1, 4, 1, 1][..]),
        ] {
            for group in [1, 2] {
                let g = pre_conv(op, dims, 1, group, true);
                let (after, changed) = run_checked(&g, run);
                assert!(changed);
                assert_eq!(after.node_count(), 1, "{after}");
            }
        }
    }

    #[test]
    fn shift_before_conv_needs_zero_pads() {
        for group in [1, 2] {
            for bias in [false, true] {
                let g = pre_conv(BinaryOp::Sub, &[4, 1, 1], 0, group, bias);
                let (after, changed) = run_checked(&g, run);
                assert!(changed);
                assert_eq!(after.node_count(), 1, "{after}");
            }
        }
        let g = pre_conv(BinaryOp::Add, &[4, 1, 1], 1, 1, true);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed, "padding reads zeros, not the shift");
    }

    #[test]
    fn per_position_constants_are_not_folded() {
        let g = pre_conv(BinaryOp::Mul, &[6, 6], 0, 1, true);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }

    #[test]
    fn after_conv_folds_into_weights_and_bias() {
        for (op, dims, bias) in [
            (BinaryOp::Mul, &[6u64, 1, 1][..], true),
            (BinaryOp::Mul, &[1][..], false),
            (BinaryOp::Div, &[1, 6, 1, 1][..], true),
            (BinaryOp::Add, &[6, 1, 1][..], false),
            (BinaryOp::Sub, &[][..], true),
        ] {
            let mut g = Graph::new("t");
            let x = g.add_input("x", f32_ty(&[1, 4, 6, 6]));
            let w = konst(&mut g, "w", &[6, 4, 3, 3], |i| (i % 13) as f32 * 0.1 - 0.6);
            let mut ins = vec![x, w];
            if bias {
                ins.push(konst(&mut g, "b", &[6], |i| i as f32 - 2.0));
            }
            let y = node(&mut g, conv(1, 1), &ins);
            let c = konst(&mut g, "c", dims, |i| 1.5 - i as f32 * 0.2);
            let z = node(&mut g, bin(op), &[y, c]);
            g.set_outputs(vec![z]);
            let (after, changed) = run_checked(&g, run);
            assert!(changed, "{op:?}");
            assert_eq!(after.node_count(), 1, "{after}");
        }
    }

    #[test]
    fn constant_on_the_left_of_sub_is_not_folded() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 4, 6, 6]));
        let w = konst(&mut g, "w", &[6, 4, 3, 3], |i| i as f32 * 0.01);
        let y = node(&mut g, conv(0, 1), &[x, w]);
        let c = konst(&mut g, "c", &[], |_| 1.0);
        let z = node(&mut g, bin(BinaryOp::Sub), &[c, y]);
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[y]);
        g.set_outputs(vec![z, r]);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }

    #[test]
    fn gemm_before_and_after() {
        for trans_a in [false, true] {
            for trans_b in [false, true] {
                for op in [BinaryOp::Mul, BinaryOp::Add, BinaryOp::Div, BinaryOp::Sub] {
                    let gemm = Op::Gemm(Gemm {
                        alpha: 0.5,
                        beta: 2.0,
                        trans_a,
                        trans_b,
                    });
                    let adims: &[u64] = if trans_a { &[4, 3] } else { &[3, 4] };
                    let bdims: &[u64] = if trans_b { &[5, 4] } else { &[4, 5] };
                    let kdims: &[u64] = if trans_a { &[4, 1] } else { &[4] };
                    // Before: per-K constant.
                    let mut g = Graph::new("t");
                    let a = g.add_input("a", f32_ty(adims));
                    let c = konst(&mut g, "c", kdims, |i| 0.5 + i as f32);
                    let m = node(&mut g, bin(op), &[a, c]);
                    let b = konst(&mut g, "b", bdims, |i| i as f32 * 0.1 - 1.0);
                    let bias = konst(&mut g, "bias", &[1, 5], |i| i as f32);
                    let y = node(&mut g, gemm.clone(), &[m, b, bias]);
                    g.set_outputs(vec![y]);
                    let (after, changed) = run_checked(&g, run);
                    assert!(changed, "before {op:?} {trans_a} {trans_b}");
                    assert_eq!(after.node_count(), 1, "{after}");
                    // After: per-column (Mul/Div) or full (Add/Sub) constant.
                    let mut g = Graph::new("t");
                    let a = g.add_input("a", f32_ty(adims));
                    let b = konst(&mut g, "b", bdims, |i| i as f32 * 0.1 - 1.0);
                    let bias = konst(&mut g, "bias", &[5], |i| i as f32);
                    let y = node(&mut g, gemm.clone(), &[a, b, bias]);
                    let cdims: &[u64] = if matches!(op, BinaryOp::Add | BinaryOp::Sub) {
                        &[3, 5]
                    } else {
                        &[5]
                    };
                    let c = konst(&mut g, "c", cdims, |i| 0.5 + i as f32 * 0.1);
                    let z = node(&mut g, bin(op), &[y, c]);
                    g.set_outputs(vec![z]);
                    let (after, changed) = run_checked(&g, run);
                    assert!(changed, "after {op:?} {trans_a} {trans_b}");
                    assert_eq!(after.node_count(), 1, "{after}");
                }
            }
        }
    }

    #[test]
    fn shared_intermediate_is_not_folded() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 4, 6, 6]));
        let c = konst(&mut g, "c", &[], |_| 2.0);
        let m = node(&mut g, bin(BinaryOp::Mul), &[x, c]);
        let w = konst(&mut g, "w", &[6, 4, 3, 3], |i| i as f32 * 0.01);
        let y = node(&mut g, conv(0, 1), &[m, w]);
        g.set_outputs(vec![y, m]);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }
}
