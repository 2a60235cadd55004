//! Fused operators: what the fusion passes produce and the kernel IR lowers as one kernel.
//!
//! - [`ElemProgram`]: a straight-line elementwise program over broadcast inputs; an
//!   [`Op::Elementwise`](super::Op::Elementwise) node runs one (chains such as
//!   `x * sigmoid(x)` or `(x + b) * s`).
//! - [`Fused`]: an *anchor* op (Conv, Gemm, MatMul, pooling, ...) followed by an epilogue
//!   program applied to its result while the result is still in registers/cache: bias,
//!   activation, residual add. The node's inputs are the anchor's inputs followed by the
//!   epilogue's extra inputs.
//!
//! Fusion never changes what is computed: an `ElemProgram` evaluates exactly the scalar
//! functions of the ops it replaced, in the same order.

use super::elementwise::{broadcast_index, BinaryOp, UnaryOp};
use super::Op;
use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use crate::shape::{broadcast_shapes, Shape, TensorType};
use crate::tensor::Tensor;
use std::fmt;

/// One instruction of an [`ElemProgram`]; operands refer to earlier instructions.
#[derive(Debug, Clone, PartialEq)]
pub enum ElemInstr {
    /// Input `i` (of the elementwise node; of a fused node: 0 is the anchor's result,
    /// `i >= 1` is the node's extra input `i - 1`).
    Input(usize),
    /// A scalar constant.
    Const(f32),
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
}

/// A straight-line program of scalar functions; its value is the last instruction's.
#[derive(Debug, Clone, PartialEq)]
pub struct ElemProgram {
    pub instrs: Vec<ElemInstr>,
}

impl ElemProgram {
    /// Number of inputs the program reads (one past the highest `Input` index).
    pub fn num_inputs(&self) -> usize {
        self.instrs
            .iter()
            .filter_map(|i| match i {
                ElemInstr::Input(k) => Some(k + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Checks that operands refer to earlier instructions and the program is not empty.
    pub fn validate(&self) -> OpResult<()> {
        if self.instrs.is_empty() {
            return shape_err("empty elementwise program");
        }
        for (n, i) in self.instrs.iter().enumerate() {
            let ok = match i {
                ElemInstr::Input(_) | ElemInstr::Const(_) => true,
                ElemInstr::Unary(_, a) => *a < n,
                ElemInstr::Binary(_, a, b) => *a < n && *b < n,
            };
            if !ok {
                return shape_err(format!("instruction {n} uses a later value"));
            }
        }
        Ok(())
    }

    /// The output type for inputs of these types: broadcast shape; `bool` when the last
    /// instruction is a comparison, else the first input's dtype.
    pub fn infer(&self, inputs: &[&TensorType]) -> OpResult<TensorType> {
        self.validate()?;
        if inputs.len() < self.num_inputs() {
            return shape_err(format!(
                "program reads {} inputs, node has {}",
                self.num_inputs(),
                inputs.len()
            ));
        }
        let dims: Vec<Vec<u64>> = inputs.iter().map(|t| t.dims()).collect::<Result<_, _>>()?;
        let refs: Vec<&[u64]> = dims.iter().map(|d| d.as_slice()).collect();
        let shape = broadcast_shapes(&refs)?;
        let dtype = match self.instrs.last() {
            Some(ElemInstr::Binary(b, ..)) if b.is_comparison() => DType::Bool,
            _ => inputs.first().map_or(DType::F32, |t| t.dtype),
        };
        Ok(TensorType {
            dtype,
            shape: Shape::fixed(&shape),
        })
    }

    /// Evaluates the program on scalar inputs (reference semantics, `f64`).
    pub fn apply(&self, inputs: &[f64], int: bool) -> f64 {
        let mut vals: Vec<f64> = Vec::with_capacity(self.instrs.len());
        for i in &self.instrs {
            let v = match *i {
                ElemInstr::Input(k) => inputs.get(k).copied().unwrap_or(f64::NAN),
                ElemInstr::Const(c) => f64::from(c),
                ElemInstr::Unary(op, a) => op.apply(vals[a]),
                ElemInstr::Binary(op, a, b) => op.apply(vals[a], vals[b], int),
            };
            vals.push(v);
        }
        vals.last().copied().unwrap_or(f64::NAN)
    }

    /// Evaluates the program over broadcast tensors.
    pub fn eval(&self, inputs: &[&Tensor], out: &TensorType) -> OpResult<Tensor> {
        let od = out.dims()?;
        let vals: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_f64_vec()).collect();
        let maps: Vec<Vec<usize>> = inputs
            .iter()
            .map(|t| broadcast_index(&t.shape, &od))
            .collect();
        let int = inputs.iter().all(|t| t.dtype.is_int());
        let n: usize = od.iter().product::<u64>() as usize;
        let mut scratch = vec![0.0; inputs.len()];
        let mut res = Vec::with_capacity(n);
        for e in 0..n {
            for (k, s) in scratch.iter_mut().enumerate() {
                *s = vals[k][maps[k][e]];
            }
            res.push(self.apply(&scratch, int));
        }
        Ok(Tensor::from_f64_as(out.dtype, od, &res))
    }
}

impl fmt::Display for ElemProgram {
    /// `[in0, in1, Add(0,1), Relu(2)]`-style listing; `$k` names instruction `k`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (n, i) in self.instrs.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            match i {
                ElemInstr::Input(k) => write!(f, "in{k}")?,
                ElemInstr::Const(c) => write!(f, "{c:?}")?,
                ElemInstr::Unary(op, a) => {
                    let attrs = op.attrs();
                    if attrs.is_empty() {
                        write!(f, "{}(${a})", op.name())?
                    } else {
                        write!(f, "{}{{{attrs}}}(${a})", op.name())?
                    }
                }
                ElemInstr::Binary(op, a, b) => write!(f, "{}(${a}, ${b})", op.name())?,
            }
        }
        f.write_str("]")
    }
}

/// An anchor op with an elementwise epilogue applied to its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub anchor: Box<Op>,
    /// Number of node inputs that belong to the anchor (the rest feed the epilogue).
    pub anchor_inputs: usize,
    pub epilogue: ElemProgram,
}

impl Fused {
    pub(crate) fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<TensorType> {
        if inputs.len() < self.anchor_inputs {
            return shape_err("fewer inputs than the anchor needs");
        }
        let anchor_out = self.anchor.infer(&inputs[..self.anchor_inputs])?;
        let Some(a) = anchor_out.into_iter().next() else {
            return shape_err("anchor has no output");
        };
        let mut ep_in: Vec<&TensorType> = vec![&a];
        for t in &inputs[self.anchor_inputs..] {
            match t {
                Some(t) => ep_in.push(t),
                None => return shape_err("epilogue input missing"),
            }
        }
        let out = self.epilogue.infer(&ep_in)?;
        if out.shape != a.shape {
            return shape_err(format!(
                "epilogue output {} differs from the anchor output {}",
                out.shape, a.shape
            ));
        }
        Ok(out)
    }
}
