//! Fused groups: elementwise programs, and epilogues applied by anchor kernels.
//!
//! An [`ElemProgram`] becomes straight-line scalar code: one kernel variable per
//! instruction, so values shared inside the program are computed once. An anchor kernel
//! (Conv, Gemm, MatMul) calls [`Epilogue::value`] on each finished output element while
//! the row it just accumulated is still in cache, reading the epilogue's extra inputs
//! (bias, residual) through broadcast strides over the output's dims.

use super::elementwise::{binary_expr, broadcast_loops, broadcast_strides, collapse, unary_expr};
use super::{fconst, Ctx, LowerError};
use crate::builder::KernelBuilder;
use crate::expr::Expr;
use crate::kernel::{BufId, ScalarType};
use neoc_ir::ops::{ElemInstr, ElemProgram, Fused};
use neoc_ir::shape::strides;

/// Builds the program's value. `input(k, b)` gives the expression for input `k`.
fn program_value(
    b: &mut KernelBuilder,
    prog: &ElemProgram,
    t: ScalarType,
    input_types: &[ScalarType],
    input: &dyn Fn(usize) -> Expr,
) -> Expr {
    let mut vars = Vec::with_capacity(prog.instrs.len());
    let mut types: Vec<ScalarType> = Vec::with_capacity(prog.instrs.len());
    for (n, i) in prog.instrs.iter().enumerate() {
        let (e, ty) = match *i {
            ElemInstr::Input(k) => (input(k), input_types.get(k).copied().unwrap_or(t)),
            ElemInstr::Const(c) => (fconst(f64::from(c), t), t),
            ElemInstr::Unary(op, a) => (unary_expr(&op, Expr::Var(vars[a]), types[a]), types[a]),
            ElemInstr::Binary(op, a, c) => {
                let ty = if op.is_comparison() {
                    ScalarType::Bool
                } else {
                    types[a]
                };
                (
                    binary_expr(op, Expr::Var(vars[a]), Expr::Var(vars[c]), types[a]),
                    ty,
                )
            }
        };
        let v = b.var(format!("e{n}"), ty);
        b.assign(v, e);
        vars.push(v);
        types.push(ty);
    }
    vars.last().map_or(fconst(0.0, t), |v| Expr::Var(*v))
}

/// An `Elementwise` node: loops over the output, evaluating the program per element.
pub(super) fn elementwise(cx: &mut Ctx<'_>, prog: &ElemProgram) -> Result<(), LowerError> {
    let od = cx.dims(cx.output(0))?;
    let n_in = cx.graph.node(cx.node).inputs.len();
    let mut bufs = Vec::with_capacity(n_in);
    let mut types = Vec::with_capacity(n_in);
    let mut operand_strides = Vec::with_capacity(n_in);
    for i in 0..n_in {
        let Some(v) = cx.input(i) else {
            return cx.err(format!("input {i} is missing"));
        };
        operand_strides.push(broadcast_strides(&cx.dims(v)?, &od));
        types.push(cx.scalar_type(v)?);
        bufs.push(cx.bind_input(i)?);
    }
    let y = cx.bind_output(0)?;
    let t = types.first().copied().unwrap_or(ScalarType::F32);
    let (dims, st) = collapse(&od, &operand_strides);
    broadcast_loops(&mut cx.b, &dims, &st, |kb, idx| {
        let input = |k: usize| Expr::load(bufs[k], idx[k].clone());
        let v = program_value(kb, prog, t, &types, &input);
        kb.store(y, idx[n_in].clone(), v);
    });
    Ok(())
}

/// The epilogue of a fused node, with its extra inputs bound as kernel parameters.
pub(crate) struct Epilogue {
    prog: ElemProgram,
    t: ScalarType,
    /// Extra inputs: buffer and element strides over the output dims.
    extras: Vec<(BufId, Vec<u64>, ScalarType)>,
}

impl Epilogue {
    /// Binds the extra inputs of fused node `f` (call after binding the anchor's
    /// parameters). `out_dims` are the node's output dims.
    pub fn bind(
        cx: &mut Ctx<'_>,
        f: &Fused,
        out_dims: &[u64],
        t: ScalarType,
    ) -> Result<Epilogue, LowerError> {
        let n_in = cx.graph.node(cx.node).inputs.len();
        let mut extras = Vec::new();
        for i in f.anchor_inputs..n_in {
            let Some(v) = cx.input(i) else {
                return cx.err(format!("epilogue input {i} is missing"));
            };
            let s = broadcast_strides(&cx.dims(v)?, out_dims);
            let ty = cx.scalar_type(v)?;
            extras.push((cx.bind_input(i)?, s, ty));
        }
        Ok(Epilogue {
            prog: f.epilogue.clone(),
            t,
            extras,
        })
    }

    /// The epilogue's value for the anchor result `acc` at output coordinates `coords`
    /// (one expression per output dim, outermost first).
    pub fn value(&self, b: &mut KernelBuilder, acc: Expr, coords: &[Expr]) -> Expr {
        let mut types = vec![self.t];
        types.extend(self.extras.iter().map(|e| e.2));
        let input = |k: usize| -> Expr {
            if k == 0 {
                return acc.clone();
            }
            match self.extras.get(k - 1) {
                Some((buf, s, _)) => {
                    let mut idx = Expr::i64(0);
                    let mut first = true;
                    for (c, &st) in coords.iter().zip(s) {
                        if st == 0 {
                            continue;
                        }
                        let term = if st == 1 {
                            c.clone()
                        } else {
                            c.clone() * Expr::i64(st as i64)
                        };
                        idx = if first { term } else { idx + term };
                        first = false;
                    }
                    Expr::load(*buf, idx)
                }
                None => fconst(f64::NAN, self.t),
            }
        };
        program_value(b, &self.prog, self.t, &types, &input)
    }
}

/// The last parameters of a convolution-like anchor, bound in order: its optional
/// bias (input 2), the output, and the extra inputs of the fused epilogue, if any.
pub(crate) struct AnchorTail {
    pub bias: Option<BufId>,
    pub y: BufId,
    pub epi: Option<Epilogue>,
}

impl AnchorTail {
    /// Binds them after the anchor's own inputs; `out_dims` are the output's dims.
    pub fn bind(
        cx: &mut Ctx<'_>,
        fused: Option<&Fused>,
        out_dims: &[u64],
    ) -> Result<AnchorTail, LowerError> {
        let bias = match cx.anchor_input(2) {
            Some(_) => Some(cx.bind_input(2)?),
            None => None,
        };
        let y = cx.bind_output(0)?;
        let epi = match fused {
            Some(f) => Some(Epilogue::bind(cx, f, out_dims, ScalarType::F32)?),
            None => None,
        };
        Ok(AnchorTail { bias, y, epi })
    }
}

/// Coordinates of flat index `flat` in row-major `dims`, as expressions.
pub(crate) fn unflatten(flat: &Expr, dims: &[u64]) -> Vec<Expr> {
    let s = strides(dims);
    dims.iter()
        .zip(&s)
        .map(|(&d, &st)| {
            let q = if st == 1 {
                flat.clone()
            } else {
                flat.clone() / Expr::i64(st as i64)
            };
            if d == 1 {
                Expr::i64(0)
            } else {
                q % Expr::i64(d as i64)
            }
        })
        .collect()
}
