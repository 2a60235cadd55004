//! The reference interpreter: runs a [`Graph`] on concrete tensors, node by node.
//!
//! It is the test oracle for everything downstream of the graph IR: a pass is checked by
//! running the graph before and after it, a backend by comparing its outputs with the
//! interpreter's. Every node is evaluated with [`Op::eval`] (the same reference
//! evaluation the constant folder uses, see [`crate::reference`]), in the order of
//! [`Graph::topo_order`]. Output types are re-inferred from the actual input tensors, so
//! a graph whose recorded types disagree with its inputs fails at the first node that
//! notices rather than computing garbage.
//!
//! Accuracy: kernels widen to `f64`, compute, and round once per node to the node's
//! output dtype, so the interpreter is at least as accurate as an `f32` implementation
//! of the same graph. Comparisons use [`compare`] with a [`Tolerance`].

use crate::error::IrError;
use crate::graph::{Graph, ValueDef, ValueId};
use crate::ops::Op;
use crate::shape::{Dim, TensorType};
use crate::tensor::Tensor;

/// Why a graph could not be interpreted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpError {
    /// Bad input: the caller passed the wrong number of inputs.
    #[error("the graph has {expected} inputs, {got} were given")]
    InputCount { expected: usize, got: usize },
    /// Bad input: an input tensor's dtype or shape does not match the graph input.
    #[error("input {index} (`{name}`) must be {expected}, got {got}")]
    InputType {
        index: usize,
        name: String,
        expected: String,
        got: String,
    },
    /// Bad input (or an op without reference evaluation): the op cannot be evaluated.
    #[error("node `{node}` ({op}) has no reference evaluation")]
    Unsupported { node: String, op: String },
    /// Bad input: the op rejected its inputs (shape inference or evaluation failed).
    #[error("{0}")]
    Op(IrError),
    /// Internal bug: the graph reads a value nothing computed (a dangling id, a node
    /// removed while still in use), or an op produced the wrong number of outputs.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Runs `graph` on `inputs` (one tensor per graph input, in order) and returns one
/// tensor per graph output, in order.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, InterpError> {
    let values = run_values(graph, inputs)?;
    graph
        .outputs()
        .iter()
        .map(|&v| fetch(graph, &values, v).cloned())
        .collect()
}

/// Like [`run`], but returns every value the run computed or read (graph inputs,
/// constants, node outputs), indexed by [`ValueId`]; `None` for values of removed nodes
/// and unused constants. For debugging a mismatch value by value.
pub fn run_values(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Option<Tensor>>, InterpError> {
    if inputs.len() != graph.inputs().len() {
        return Err(InterpError::InputCount {
            expected: graph.inputs().len(),
            got: inputs.len(),
        });
    }
    let mut values: Vec<Option<Tensor>> = vec![None; graph.values().count()];
    for (index, (&v, t)) in graph.inputs().iter().zip(inputs).enumerate() {
        let decl = &graph.value(v).ty;
        if !accepts(decl, t) {
            return Err(InterpError::InputType {
                index,
                name: graph.value(v).name.clone(),
                expected: decl.to_string(),
                got: TensorType::new(t.dtype, &t.shape).to_string(),
            });
        }
        if let Some(slot) = values.get_mut(v.0 as usize) {
            *slot = Some(t.clone());
        }
    }
    for (id, value) in graph.values() {
        if let ValueDef::Const(t) = &value.def {
            values[id.0 as usize] = Some(t.clone());
        }
    }
    for n in graph.topo_order() {
        let node = graph.node(n);
        let ins: Vec<Option<&Tensor>> = node
            .inputs
            .iter()
            .map(|v| v.map(|v| fetch(graph, &values, v)).transpose())
            .collect::<Result<_, _>>()?;
        let outs = eval_node(&node.op, &ins).map_err(|e| match e {
            NodeError::Unsupported => InterpError::Unsupported {
                node: node.name.clone(),
                op: node.op.name().to_string(),
            },
            NodeError::Op(e) => InterpError::Op(e.at(&node.name, node.op.name())),
        })?;
        if outs.len() != node.outputs.len() {
            return Err(InterpError::Internal(format!(
                "node `{}` ({}) produced {} outputs, it has {}",
                node.name,
                node.op.name(),
                outs.len(),
                node.outputs.len()
            )));
        }
        for (v, t) in node.outputs.iter().zip(outs) {
            match values.get_mut(v.0 as usize) {
                Some(slot) => *slot = Some(t),
                None => {
                    return Err(InterpError::Internal(format!(
                        "node `{}` writes unknown value {v}",
                        node.name
                    )))
                }
            }
        }
    }
    Ok(values)
}

enum NodeError {
    Unsupported,
    Op(crate::error::OpError),
}

/// Evaluates one op on concrete tensors, inferring its output types from theirs.
fn eval_node(op: &Op, ins: &[Option<&Tensor>]) -> Result<Vec<Tensor>, NodeError> {
    let types: Vec<Option<TensorType>> = ins
        .iter()
        .map(|t| t.map(|t| TensorType::new(t.dtype, &t.shape)))
        .collect();
    let type_refs: Vec<Option<&TensorType>> = types.iter().map(|t| t.as_ref()).collect();
    let out_types = op.infer(&type_refs).map_err(NodeError::Op)?;
    match op.eval(ins, &out_types) {
        None => Err(NodeError::Unsupported),
        Some(r) => r.map_err(NodeError::Op),
    }
}

fn fetch<'a>(
    graph: &Graph,
    values: &'a [Option<Tensor>],
    v: ValueId,
) -> Result<&'a Tensor, InterpError> {
    values
        .get(v.0 as usize)
        .and_then(|t| t.as_ref())
        .ok_or_else(|| {
            let what = match values.get(v.0 as usize) {
                None => "does not exist".to_string(),
                Some(_) => format!(
                    "(`{}`) was not computed before it is read",
                    graph.value(v).name
                ),
            };
            InterpError::Internal(format!("value {v} {what}"))
        })
}

/// True when tensor `t` may be fed for an input declared `decl` (symbolic dims match
/// any size).
fn accepts(decl: &TensorType, t: &Tensor) -> bool {
    decl.dtype == t.dtype
        && decl.shape.0.len() == t.shape.len()
        && decl.shape.0.iter().zip(&t.shape).all(|(d, &n)| match d {
            Dim::Fixed(f) => *f == n,
            Dim::Sym(_) => true,
        })
}

/// An elementwise tolerance: `|got - want| <= atol + rtol * |want|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Tolerance {
    /// The default for `f32` results of reassociated arithmetic (folds, fusions).
    pub const F32: Tolerance = Tolerance {
        atol: 1e-5,
        rtol: 1e-4,
    };

    pub fn accepts(&self, got: f64, want: f64) -> bool {
        (got - want).abs() <= self.atol + self.rtol * want.abs()
            || (got.is_nan() && want.is_nan())
            || got == want
    }
}

/// The result of comparing two tensors elementwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Largest `|got - want|`.
    pub max_abs: f64,
    /// Largest `|got - want| / |want|` over elements with `want != 0`.
    pub max_rel: f64,
    /// Number of elements outside the tolerance.
    pub mismatches: usize,
    /// Flat index, got and want of the first element outside the tolerance.
    pub first_mismatch: Option<(usize, f64, f64)>,
    /// Set when dtypes or shapes differ (then nothing else is compared).
    pub type_mismatch: Option<String>,
}

impl Comparison {
    pub fn ok(&self) -> bool {
        self.mismatches == 0 && self.type_mismatch.is_none()
    }
}

/// Compares `got` with `want` within `tol`: same dtype and shape, every element close
/// (NaN matches NaN, infinities must be equal).
pub fn compare(got: &Tensor, want: &Tensor, tol: Tolerance) -> Comparison {
    let mut c = Comparison {
        max_abs: 0.0,
        max_rel: 0.0,
        mismatches: 0,
        first_mismatch: None,
        type_mismatch: None,
    };
    if got.dtype != want.dtype || got.shape != want.shape {
        c.type_mismatch = Some(format!(
            "got {}, want {}",
            TensorType::new(got.dtype, &got.shape),
            TensorType::new(want.dtype, &want.shape)
        ));
        return c;
    }
    for (i, (g, w)) in got
        .to_f64_vec()
        .into_iter()
        .zip(want.to_f64_vec())
        .enumerate()
    {
        if !tol.accepts(g, w) {
            c.mismatches += 1;
            c.first_mismatch.get_or_insert((i, g, w));
        }
        let abs = (g - w).abs();
        if abs.is_finite() {
            c.max_abs = c.max_abs.max(abs);
            if w != 0.0 {
                c.max_rel = c.max_rel.max(abs / w.abs());
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::ops::{Conv, UnaryOp};

    fn conv_relu() -> Graph {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::new(DType::F32, &[1, 1, 3]));
        let w = g.add_const("w", Tensor::from_f32(vec![1, 1, 2], &[1.0, -1.0]));
        let conv = Op::Conv(Conv {
            kernel: vec![2],
            strides: vec![1],
            pads: vec![0, 0],
            dilations: vec![1],
            group: 1,
        });
        let y = g
            .add_node("c", conv, vec![Some(x), Some(w)], vec!["y".into()])
            .unwrap();
        let r = g
            .add_node(
                "r",
                Op::Unary(UnaryOp::Relu),
                vec![Some(y[0])],
                vec!["r".into()],
            )
            .unwrap();
        g.set_outputs(vec![r[0], y[0]]);
        g
    }

    #[test]
    fn runs_nodes_in_order() {
        let g = conv_relu();
        let x = Tensor::from_f32(vec![1, 1, 3], &[1.0, 3.0, 2.0]);
        let out = run(&g, &[x]).unwrap();
        assert_eq!(out[0].to_f32_vec(), vec![0.0, 1.0]);
        assert_eq!(out[1].to_f32_vec(), vec![-2.0, 1.0]);
    }

    #[test]
    fn rejects_mismatched_inputs() {
        let g = conv_relu();
        let x = Tensor::from_f32(vec![1, 1, 4], &[0.0; 4]);
        assert!(matches!(
            run(&g, &[x]),
            Err(InterpError::InputType { index: 0, .. })
        ));
        assert!(matches!(
            run(&g, &[]),
            Err(InterpError::InputCount {
                expected: 1,
                got: 0
            })
        ));
    }

    #[test]
    fn dangling_reads_are_internal_errors() {
        let mut g = Graph::new("t");
        let x = g.add_input("x", TensorType::new(DType::F32, &[2]));
        let y = g
            .add_node("bad", Op::Identity, vec![Some(x)], vec![])
            .unwrap();
        // A dangling read: the node's output is read by a graph output after removal.
        g.set_outputs(vec![y[0]]);
        let n = g.topo_order()[0];
        g.remove_node(n);
        let e = run(&g, &[Tensor::from_f32(vec![2], &[1.0, 2.0])]).unwrap_err();
        assert!(matches!(e, InterpError::Internal(_)), "{e}");
    }

    #[test]
    fn compare_reports_errors() {
        let a = Tensor::from_f32(vec![3], &[1.0, 2.0, f32::NAN]);
        let b = Tensor::from_f32(vec![3], &[1.0, 2.001, f32::NAN]);
        let c = compare(&a, &b, Tolerance::F32);
        assert!(!c.ok());
        assert_eq!(c.mismatches, 1);
        assert!((c.max_abs - 0.001).abs() < 1e-6);
        assert!(compare(&a, &a, Tolerance::F32).ok());
        let d = Tensor::from_f32(vec![1, 3], &[1.0, 2.0, 3.0]);
        assert!(compare(&a, &d, Tolerance::F32).type_mismatch.is_some());
    }
}
