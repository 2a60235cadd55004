//! What an op builder sees: the node, its input values, typed attribute access (the
//! only place attribute strings are parsed), and helpers to add IR nodes.

use crate::symbol::Node;
use neoc_ir::ops::Reshape;
use neoc_ir::{DType, Graph, IrError, Op, Tensor, ValueId};

/// One MXNet node being imported.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) g: &'a mut Graph,
    pub(crate) node: &'a Node,
    inputs: &'a [ValueId],
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(g: &'a mut Graph, node: &'a Node, inputs: &'a [ValueId]) -> Ctx<'a> {
        Ctx { g, node, inputs }
    }

    pub(crate) fn name(&self) -> &str {
        &self.node.name
    }

    pub(crate) fn op(&self) -> &str {
        &self.node.op
    }

    pub(crate) fn err(&self, message: impl Into<String>) -> IrError {
        IrError::Shape {
            node: self.node.name.clone(),
            op: self.node.op.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn attr_err(&self, message: impl Into<String>) -> IrError {
        IrError::Attribute {
            node: self.node.name.clone(),
            op: self.node.op.clone(),
            message: message.into(),
        }
    }

    // ---- inputs -------------------------------------------------------------------

    pub(crate) fn input(&self, i: usize) -> Result<ValueId, IrError> {
        self.inputs
            .get(i)
            .copied()
            .ok_or_else(|| self.err(format!("expects at least {} inputs", i + 1)))
    }

    pub(crate) fn inputs(&self) -> &[ValueId] {
        self.inputs
    }

    pub(crate) fn dims(&self, v: ValueId) -> Result<Vec<u64>, IrError> {
        self.g
            .value(v)
            .ty
            .dims()
            .map_err(|e| e.at(self.name(), self.op()))
    }

    pub(crate) fn dtype(&self, v: ValueId) -> DType {
        self.g.value(v).ty.dtype
    }

    // ---- attributes ---------------------------------------------------------------

    fn raw(&self, name: &str) -> Option<&str> {
        self.node.attrs.get(name).map(|s| s.trim())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.raw(name).is_some_and(|s| !s.is_empty() && s != "None")
    }

    pub(crate) fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or(default).to_string()
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, IrError> {
        match self.raw(name) {
            None => Ok(default),
            Some("True" | "true" | "1") => Ok(true),
            Some("False" | "false" | "0") => Ok(false),
            Some(s) => Err(self.attr_err(format!("`{name}` = {s:?} is not a boolean"))),
        }
    }

    pub(crate) fn float(&self, name: &str, default: f64) -> Result<f64, IrError> {
        match self.raw(name) {
            None | Some("None") => Ok(default),
            Some(s) => s
                .parse::<f64>()
                .map_err(|_| self.attr_err(format!("`{name}` = {s:?} is not a number"))),
        }
    }

    pub(crate) fn int(&self, name: &str, default: i64) -> Result<i64, IrError> {
        match self.raw(name) {
            None | Some("None") => Ok(default),
            Some(s) => s
                .parse::<i64>()
                .map_err(|_| self.attr_err(format!("`{name}` = {s:?} is not an integer"))),
        }
    }

    /// A tuple attribute: `(3, 3)`, `[3,3]`, `3`, `()`; `None` when absent.
    pub(crate) fn tuple(&self, name: &str) -> Result<Option<Vec<i64>>, IrError> {
        let Some(s) = self.raw(name).filter(|s| *s != "None") else {
            return Ok(None);
        };
        let inner = s
            .trim_start_matches(['(', '['])
            .trim_end_matches([')', ']']);
        inner
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.trim_end_matches('L').parse::<i64>().map_err(|_| {
                    self.attr_err(format!("`{name}` = {s:?} is not a tuple of integers"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A tuple of positive window sizes of length `k` (default: all `default`).
    pub(crate) fn window(&self, name: &str, k: usize, default: u64) -> Result<Vec<u64>, IrError> {
        match self.tuple(name)? {
            None => Ok(vec![default; k]),
            Some(v) if v.is_empty() => Ok(vec![default; k]),
            Some(v) if v.len() == k => v
                .iter()
                .map(|&x| u64::try_from(x).ok().filter(|&x| x <= 1 << 31))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.attr_err(format!("`{name}` {v:?} must be non-negative"))),
            Some(v) => Err(self.attr_err(format!("`{name}` {v:?} must have {k} entries"))),
        }
    }

    // ---- building -----------------------------------------------------------------

    pub(crate) fn add(&mut self, op: Op, inputs: Vec<ValueId>) -> Result<ValueId, IrError> {
        self.add_opt(op, inputs.into_iter().map(Some).collect())
    }

    pub(crate) fn add_opt(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
    ) -> Result<ValueId, IrError> {
        let name = self.node.name.clone();
        let outs = self.g.add_node(&name, op, inputs, vec![name.clone()])?;
        outs.first()
            .copied()
            .ok_or_else(|| IrError::Internal(format!("node `{name}` has no output")))
    }

    pub(crate) fn reshape(&mut self, v: ValueId, shape: Vec<u64>) -> Result<ValueId, IrError> {
        if self.g.value(v).ty.shape.as_fixed().as_deref() == Some(&shape[..]) {
            return Ok(v);
        }
        self.add(Op::Reshape(Reshape { shape }), vec![v])
    }

    pub(crate) fn scalar(&mut self, dtype: DType, x: f64) -> ValueId {
        let name = format!("{}/const", self.node.name);
        self.g
            .add_const(name, Tensor::from_f64_as(dtype, vec![], &[x]))
    }

    pub(crate) fn constant(&mut self, t: Tensor) -> ValueId {
        let name = format!("{}/const", self.node.name);
        self.g.add_const(name, t)
    }
}
