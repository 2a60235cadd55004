//! Recognises GELU (exact erf form or tanh approximation) inside fused elementwise
//! programs and epilogues, and replaces that part of the program with the single
//! `Gelu` function.
//!
//! Exporters write GELU in many algebraically equivalent orders (`x * 0.5 * (1 + erf(x /
//! √2))`, `0.5 * x * (...)`, `Div` by `√2` or `Mul` by `1/√2`, ...). Instead of matching
//! each spelling, this pass runs after fusion and *probes*: for every instruction `k`
//! that depends, through constants and `erf`/`tanh`-containing arithmetic, on a single
//! earlier value `j`, it evaluates `k` as a function of `j` on a spread of points from
//! -12 to 12 (zero, tiny and large magnitudes included); if that agrees with GELU to
//! 1e-6 relative, `k` becomes `Gelu(j)`. Sound within rounding: both compute the same
//! function, and the replacement rounds once instead of along a chain.

use crate::Result;
use neoc_ir::ops::{ElemInstr, ElemProgram, Fused, UnaryOp};
use neoc_ir::{Graph, Op};

/// Probe points: dense near zero, sparse far out, both signs.
fn probes() -> Vec<f64> {
    let mut p = vec![0.0, 1e-6, -1e-6, 1e-3, -1e-3];
    let mut x = -12.0;
    while x <= 12.0 {
        p.push(x);
        x += 0.173;
    }
    p
}

fn operands(i: &ElemInstr) -> Vec<usize> {
    match *i {
        ElemInstr::Unary(_, a) => vec![a],
        ElemInstr::Binary(_, a, b) => vec![a, b],
        _ => Vec::new(),
    }
}

/// Evaluates instruction `k` with instruction `j` replaced by `x`; `None` when `k`
/// depends on anything but `j` and constants.
fn eval_from(instrs: &[ElemInstr], j: usize, k: usize, x: f64) -> Option<f64> {
    let mut vals: Vec<Option<f64>> = vec![None; k + 1];
    for (n, i) in instrs.iter().enumerate().take(k + 1) {
        vals[n] = if n == j {
            Some(x)
        } else {
            match *i {
                ElemInstr::Input(_) => None,
                ElemInstr::Const(c) => Some(f64::from(c)),
                ElemInstr::Unary(op, a) => vals[a].map(|v| op.apply(v)),
                ElemInstr::Binary(op, a, b) => match (vals[a], vals[b]) {
                    (Some(u), Some(v)) => Some(op.apply(u, v, false)),
                    _ => None,
                },
            }
        };
    }
    vals[k]
}

/// Whether instruction `k`'s backward slice uses `erf` or `tanh`.
fn uses_special(instrs: &[ElemInstr], k: usize) -> bool {
    let mut stack = vec![k];
    let mut seen = vec![false; instrs.len()];
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        if matches!(
            instrs[n],
            ElemInstr::Unary(UnaryOp::Erf, _) | ElemInstr::Unary(UnaryOp::Tanh, _)
        ) {
            return true;
        }
        stack.extend(operands(&instrs[n]));
    }
    false
}

fn is_gelu(instrs: &[ElemInstr], j: usize, k: usize, gelu: UnaryOp) -> bool {
    probes()
        .into_iter()
        .all(|x| match eval_from(instrs, j, k, x) {
            Some(got) => {
                let want = gelu.apply(x);
                (got - want).abs() <= 1e-6 * want.abs().max(1e-3)
            }
            None => false,
        })
}

/// Drops instructions the result does not depend on, renumbering operands.
fn remove_dead(instrs: Vec<ElemInstr>) -> Vec<ElemInstr> {
    let Some(last) = instrs.len().checked_sub(1) else {
        return instrs;
    };
    let mut live = vec![false; instrs.len()];
    live[last] = true;
    for n in (0..instrs.len()).rev() {
        if live[n] {
            for a in operands(&instrs[n]) {
                live[a] = true;
            }
        }
    }
    let mut map = vec![0; instrs.len()];
    let mut out = Vec::new();
    for (n, i) in instrs.into_iter().enumerate() {
        if !live[n] {
            continue;
        }
        map[n] = out.len();
        out.push(match i {
            ElemInstr::Unary(op, a) => ElemInstr::Unary(op, map[a]),
            ElemInstr::Binary(op, a, b) => ElemInstr::Binary(op, map[a], map[b]),
            other => other,
        });
    }
    out
}

/// Rewrites GELU sub-programs; returns the new program if anything changed.
pub(crate) fn rewrite(prog: &ElemProgram) -> Option<ElemProgram> {
    let mut instrs = prog.instrs.clone();
    let mut changed = false;
    for k in (0..instrs.len()).rev() {
        if matches!(instrs[k], ElemInstr::Unary(UnaryOp::Gelu { .. }, _))
            || !uses_special(&instrs, k)
        {
            continue;
        }
        let hit = (0..k).rev().find_map(|j| {
            [UnaryOp::Gelu { tanh: false }, UnaryOp::Gelu { tanh: true }]
                .into_iter()
                .find(|g| is_gelu(&instrs, j, k, *g))
                .map(|g| (j, g))
        });
        if let Some((j, g)) = hit {
            instrs[k] = ElemInstr::Unary(g, j);
            changed = true;
        }
    }
    changed.then(|| ElemProgram {
        instrs: remove_dead(instrs),
    })
}

pub fn run(graph: &mut Graph) -> Result<bool> {
    let mut changed = false;
    for n in graph.topo_order() {
        let node = graph.node(n).clone();
        let new_op = match &node.op {
            Op::Elementwise(p) => rewrite(p).map(Op::Elementwise),
            Op::Fused(f) => rewrite(&f.epilogue).map(|epilogue| {
                Op::Fused(Fused {
                    epilogue,
                    ..f.clone()
                })
            }),
            _ => None,
        };
        let Some(op) = new_op else { continue };
        let names = node
            .outputs
            .iter()
            .map(|v| graph.value(*v).name.clone())
            .collect();
        let new = graph.add_node(node.name.clone(), op, node.inputs.clone(), names)?;
        graph.replace_uses(node.outputs[0], new[0])?;
        graph.remove_node(n);
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use neoc_ir::ops::BinaryOp;

    #[test]
    fn finds_torch_erf_gelu_in_an_epilogue() {
        // in0 + in1 (bias), then x * 0.5 * (1 + erf(x / sqrt2)) on that sum.
        let p = ElemProgram {
            instrs: vec![
                ElemInstr::Input(0),
                ElemInstr::Input(1),
                ElemInstr::Binary(BinaryOp::Add, 0, 1),
                ElemInstr::Const(std::f32::consts::SQRT_2),
                ElemInstr::Binary(BinaryOp::Div, 2, 3),
                ElemInstr::Unary(UnaryOp::Erf, 4),
                ElemInstr::Const(1.0),
                ElemInstr::Binary(BinaryOp::Add, 5, 6),
                ElemInstr::Binary(BinaryOp::Mul, 2, 7),
                ElemInstr::Const(0.5),
                ElemInstr::Binary(BinaryOp::Mul, 8, 9),
            ],
        };
        let r = rewrite(&p).unwrap();
        assert_eq!(
            r.instrs.last(),
            Some(&ElemInstr::Unary(UnaryOp::Gelu { tanh: false }, 2))
        );
        assert_eq!(r.instrs.len(), 4);
    }

    #[test]
    fn leaves_other_erf_uses_alone() {
        let p = ElemProgram {
            instrs: vec![
                ElemInstr::Input(0),
                ElemInstr::Unary(UnaryOp::Erf, 0),
                ElemInstr::Binary(BinaryOp::Mul, 0, 1),
            ],
        };
        assert!(rewrite(&p).is_none());
    }
}
