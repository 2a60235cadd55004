//! Folds inference BatchNormalization away, or into a cheaper elementwise op.
//!
//! With constant statistics, `bn(y) = y * s + t` per channel (axis 1), where
//! `s = gamma / sqrt(var + eps)` and `t = beta - mean * s`. Then:
//!
//! - after a Conv with constant weights and bias: `conv(x, w, b) * s + t =
//!   conv(x, w * s, b * s + t)`, scaling output channel `c` of `w` (its dim 0) by `s[c]`;
//! - after a Gemm with constant `B` and `C`: `alpha * A @ op(B) + beta * C` has the
//!   channels as columns, so `B` is scaled per column (its dim 1, or dim 0 when
//!   `trans_b`), and `C' = beta * C * s + t` with `beta' = 1`;
//! - otherwise (an f32 BN whose producer cannot absorb it) it becomes the elementwise
//!   program `x * scale + shift` with `scale`, `shift` of shape `[C, 1, ...]`, which
//!   broadcasts exactly like the BN's per-channel parameters and needs no rsqrt per
//!   element.
//!
//! Folding into the producer requires that nothing else reads the producer's output
//! (else it would be computed twice). The arithmetic is done in `f64` and rounded once;
//! the result differs from the unfolded graph only by rounding.

use crate::consts::{broadcast, broadcast_to, optional_const, scale_along};
use crate::patch::{producer, rewrite, single_use, Patch, Wire};
use crate::Result;
use neoc_ir::ops::{BatchNorm, BinaryOp, ElemInstr, ElemProgram, Gemm};
use neoc_ir::{DType, Graph, NodeId, Op, Tensor, ValueId};

pub fn run(graph: &mut Graph) -> Result<bool> {
    rewrite(graph, rule)
}

/// The per-channel affine map of a BatchNorm with constant statistics.
struct Affine {
    scale: Vec<f64>,
    shift: Vec<f64>,
}

fn rule(graph: &Graph, n: NodeId) -> Result<Option<Patch>> {
    let bn = graph.node(n);
    let (Op::BatchNorm(BatchNorm { epsilon }), [Some(x), rest @ ..], [out]) =
        (&bn.op, bn.inputs.as_slice(), bn.outputs.as_slice())
    else {
        return Ok(None);
    };
    let stats: Option<Vec<Vec<f64>>> = rest
        .iter()
        .map(|v| v.and_then(|v| graph.const_value(v)).map(|t| t.to_f64_vec()))
        .collect();
    let (Some(stats), true) = (stats, graph.value(*x).ty.dtype.is_float()) else {
        return Ok(None);
    };
    let [gamma, beta, mean, var] = stats.as_slice() else {
        return Ok(None);
    };
    let scale: Vec<f64> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| g / (v + f64::from(*epsilon)).sqrt())
        .collect();
    let shift: Vec<f64> = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    let bn_affine = Affine { scale, shift };
    let folded = match producer(graph, *x) {
        Some(p) if single_use(graph, *x, n) => match &graph.node(p).op {
            Op::Conv(_) => into_conv(graph, p, &bn_affine),
            Op::Gemm(g) => into_gemm(graph, p, *g, &bn_affine),
            _ => None,
        },
        _ => None,
    };
    let mut patch = match folded {
        Some((patch, new)) => {
            let mut patch = patch;
            patch.replace(*out, new);
            if let Some(p) = producer(graph, *x) {
                patch.remove_if_dead(p);
            }
            patch
        }
        None => match to_elementwise(graph, *x, &bn_affine, &bn.name, &graph.value(*out).name) {
            Some((patch, new)) => {
                let mut patch = patch;
                patch.replace(*out, new);
                patch
            }
            None => return Ok(None),
        },
    };
    patch.remove_if_dead(n);
    Ok(Some(patch))
}

/// `conv(x, w * s, b * s + t)` for the Conv node `conv`.
fn into_conv(graph: &Graph, conv: NodeId, bn: &Affine) -> Option<(Patch, Wire)> {
    let node = graph.node(conv);
    let w_id = node.inputs.get(1).copied().flatten()?;
    let w = graph.const_value(w_id)?;
    let bias = optional_const(graph, node.inputs.get(2).copied().flatten())?;
    let m = *w.shape.first()? as usize;
    if bn.scale.len() != m || !w.dtype.is_float() {
        return None;
    }
    let mut wv = w.to_f64_vec();
    scale_along(&mut wv, &w.shape, 0, &bn.scale);
    let b: Vec<f64> = match bias {
        Some(b) => b.to_f64_vec(),
        None => vec![0.0; m],
    };
    let new_b: Vec<f64> = (0..m).map(|c| b[c] * bn.scale[c] + bn.shift[c]).collect();
    let mut p = Patch::new();
    let wid = p.add_const(
        format!("{}.bn_folded", graph.value(w_id).name),
        Tensor::from_f64_as(w.dtype, w.shape.clone(), &wv),
    );
    let bid = p.add_const(
        format!("{}.bias_bn_folded", node.name),
        Tensor::from_f64_as(w.dtype, vec![m as u64], &new_b),
    );
    let out = p.add_node(
        node.name.clone(),
        node.op.clone(),
        vec![node.inputs[0].map(Wire::from), Some(wid), Some(bid)],
        graph.value(node.outputs[0]).name.clone(),
    );
    Some((p, out))
}

/// `alpha * A @ op(B * s) + (beta * C * s + t)` for the Gemm node `gemm`.
fn into_gemm(graph: &Graph, gemm: NodeId, g: Gemm, bn: &Affine) -> Option<(Patch, Wire)> {
    let node = graph.node(gemm);
    let b_id = node.inputs.get(1).copied().flatten()?;
    let b = graph.const_value(b_id)?;
    let c = optional_const(graph, node.inputs.get(2).copied().flatten())?;
    let n = bn.scale.len() as u64;
    let col_axis = if g.trans_b { 0 } else { 1 };
    if b.shape.len() != 2 || b.shape[col_axis] != n || !b.dtype.is_float() {
        return None;
    }
    let mut bv = b.to_f64_vec();
    scale_along(&mut bv, &b.shape, col_axis, &bn.scale);
    let (c_vals, c_dims) = match c {
        Some(c) => (c.to_f64_vec(), c.shape.clone()),
        None => (vec![0.0], vec![]),
    };
    let dims = broadcast(&c_dims, &[n])?;
    let c_full = broadcast_to(&c_vals, &c_dims, &dims);
    let mut new_c: Vec<f64> = c_full.iter().map(|v| v * f64::from(g.beta)).collect();
    scale_along(&mut new_c, &dims, dims.len() - 1, &bn.scale);
    let mut shift = vec![0.0; new_c.len()];
    for (i, s) in shift.iter_mut().enumerate() {
        *s = bn.shift[i % n as usize];
    }
    for (v, s) in new_c.iter_mut().zip(shift) {
        *v += s;
    }
    let mut p = Patch::new();
    let bid = p.add_const(
        format!("{}.bn_folded", graph.value(b_id).name),
        Tensor::from_f64_as(b.dtype, b.shape.clone(), &bv),
    );
    let cid = p.add_const(
        format!("{}.c_bn_folded", node.name),
        Tensor::from_f64_as(b.dtype, dims, &new_c),
    );
    let out = p.add_node(
        node.name.clone(),
        Op::Gemm(Gemm { beta: 1.0, ..g }),
        vec![node.inputs[0].map(Wire::from), Some(bid), Some(cid)],
        graph.value(node.outputs[0]).name.clone(),
    );
    Some((p, out))
}

/// `x * scale + shift` as one elementwise node, for f32 `x`.
fn to_elementwise(
    graph: &Graph,
    x: ValueId,
    bn: &Affine,
    name: &str,
    out_name: &str,
) -> Option<(Patch, Wire)> {
    let ty = &graph.value(x).ty;
    if ty.dtype != DType::F32 || ty.rank() < 2 {
        return None;
    }
    let mut dims = vec![bn.scale.len() as u64];
    dims.resize(ty.rank() - 1, 1);
    let mut p = Patch::new();
    let s = p.add_const(
        format!("{name}.scale"),
        Tensor::from_f64_as(ty.dtype, dims.clone(), &bn.scale),
    );
    let t = p.add_const(
        format!("{name}.shift"),
        Tensor::from_f64_as(ty.dtype, dims, &bn.shift),
    );
    let prog = ElemProgram {
        instrs: vec![
            ElemInstr::Input(0),
            ElemInstr::Input(1),
            ElemInstr::Binary(BinaryOp::Mul, 0, 1),
            ElemInstr::Input(2),
            ElemInstr::Binary(BinaryOp::Add, 2, 3),
        ],
    };
    let out = p.add_node(
        name,
        Op::Elementwise(prog),
        vec![Some(x.into()), Some(s), Some(t)],
        out_name,
    );
    Some((p, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use neoc_ir::ops::{Conv, UnaryOp};

    fn bn_stats(g: &mut Graph, c: u64) -> Vec<ValueId> {
        vec![
            konst(g, "gamma", &[c], |i| 0.5 + i as f32 * 0.25),
            konst(g, "beta", &[c], |i| i as f32 - 1.0),
            konst(g, "mean", &[c], |i| 0.1 * i as f32),
            konst(g, "var", &[c], |i| 1.0 + i as f32),
        ]
    }

    fn bn(g: &mut Graph, x: ValueId) -> ValueId {
        let c = g.value(x).ty.shape.as_fixed().unwrap()[1];
        let mut ins = vec![x];
        ins.extend(bn_stats(g, c));
        node(g, Op::BatchNorm(BatchNorm { epsilon: 1e-5 }), &ins)
    }

    fn conv_op(pads: u64) -> Op {
        Op::Conv(Conv {
            kernel: vec![3, 3],
            strides: vec![1, 1],
            pads: vec![pads; 4],
            dilations: vec![1, 1],
            group: 1,
        })
    }

    #[test]
    fn folds_into_conv() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 2, 5, 5]));
        let w = konst(&mut g, "w", &[3, 2, 3, 3], |i| (i % 7) as f32 * 0.1 - 0.3);
        let b = konst(&mut g, "b", &[3], |i| i as f32);
        let y = node(&mut g, conv_op(1), &[x, w, b]);
        let z = bn(&mut g, y);
        g.set_outputs(vec![z]);
        let (after, changed) = run_checked(&g, run);
        assert!(changed);
        assert_eq!(after.node_count(), 1, "{after}");
        assert_eq!(count(&after, "Conv"), 1);
    }

    #[test]
    fn folds_into_gemm_either_transposition() {
        for trans_b in [false, true] {
            let mut g = Graph::new("t");
            let a = g.add_input("a", f32_ty(&[2, 4]));
            let bdims: &[u64] = if trans_b { &[3, 4] } else { &[4, 3] };
            let b = konst(&mut g, "b", bdims, |i| i as f32 * 0.1 - 0.5);
            let c = konst(&mut g, "c", &[1, 3], |i| i as f32);
            let gemm = Op::Gemm(Gemm {
                alpha: 0.5,
                beta: 2.0,
                trans_a: false,
                trans_b,
            });
            let y = node(&mut g, gemm, &[a, b, c]);
            let z = bn(&mut g, y);
            g.set_outputs(vec![z]);
            let (after, _) = run_checked(&g, run);
            assert_eq!(after.node_count(), 1, "{after}");
            assert_eq!(count(&after, "Gemm"), 1);
        }
    }

    #[test]
    fn shared_conv_output_becomes_elementwise() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 2, 5, 5]));
        let w = konst(&mut g, "w", &[3, 2, 3, 3], |i| (i % 5) as f32 * 0.1);
        let y = node(&mut g, conv_op(0), &[x, w]);
        let z = bn(&mut g, y);
        let r = node(&mut g, Op::Unary(UnaryOp::Relu), &[y]);
        g.set_outputs(vec![z, r]);
        let (after, _) = run_checked(&g, run);
        assert_eq!(count(&after, "Conv"), 1);
        assert_eq!(count(&after, "BatchNormalization"), 0);
        assert_eq!(count(&after, "Elementwise"), 1, "{after}");
    }

    #[test]
    fn standalone_bn_becomes_elementwise() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[2, 3, 4]));
        let z = bn(&mut g, x);
        g.set_outputs(vec![z]);
        let (after, _) = run_checked(&g, run);
        assert_eq!(count(&after, "Elementwise"), 1, "{after}");
    }

    #[test]
    fn non_constant_statistics_are_left_alone() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", f32_ty(&[1, 3, 4, 4]));
        let gamma = g.add_input("gamma", f32_ty(&[3]));
        let mut ins = vec![x, gamma];
        ins.extend(bn_stats(&mut g, 3).into_iter().skip(1));
        let z = node(&mut g, Op::BatchNorm(BatchNorm { epsilon: 1e-5 }), &ins);
        g.set_outputs(vec![z]);
        let (_, changed) = run_checked(&g, run);
        assert!(!changed);
    }
}
