//! What an op builder sees of the import: the node's resolved inputs, its attributes,
//! the opset version, and helpers to add IR nodes and constants.
//!
//! A builder adds the IR nodes for one ONNX node and returns the values of the node's
//! outputs, in order. It may return fewer values than the node declares; the importer
//! then refuses the model only if one of the missing outputs is actually used (e.g.
//! Dropout's mask, MaxPool's indices).

use crate::attrs::Attrs;
use crate::import::{ImportState, Scope};
use crate::proto::{GraphProto, TensorProto};
use crate::reader::TensorReader;
use neoc_ir::{Graph, IrError, Op, Tensor, TensorType, ValueId};

/// Largest constant an operator's import may build (fills, transform matrices).
pub(crate) const MAX_BUILT_BYTES: u64 = 1 << 30;

/// The result of a builder: the values of the node's outputs.
pub(crate) type Built = Result<Vec<ValueId>, IrError>;

/// A sequence value (ONNX `seq(tensor)`) of statically known length: the IR values of
/// its elements. Sequences exist only during import (see `ops/sequence.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sequence {
    pub(crate) elems: Vec<ValueId>,
    /// The element type (an empty sequence has one too).
    pub(crate) dtype: neoc_ir::DType,
}

/// One ONNX node being imported.
#[derive(Debug)]
pub(crate) struct NodeCtx<'a> {
    pub(crate) graph: &'a mut Graph,
    pub(crate) attrs: Attrs<'a>,
    /// The version of the node's domain the model imports.
    pub(crate) opset: i64,
    /// The node's name (made up as `<op_type>_<index>` when the model has none).
    pub(crate) name: &'a str,
    pub(crate) op: &'a str,
    inputs: Vec<Option<ValueId>>,
    outputs: &'a [String],
    reader: &'a mut TensorReader,
    /// The import and the scope the node is built in (for subgraphs of control flow).
    scope: Option<(&'a ImportState<'a>, &'a Scope<'a>)>,
    /// Inputs that are sequences (their tensor input is `None`).
    seq_inputs: Vec<Option<Sequence>>,
    /// Outputs the builder produced as sequences, by output index.
    pub(crate) seq_outputs: Vec<(usize, Sequence)>,
}

impl<'a> NodeCtx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        graph: &'a mut Graph,
        attrs: Attrs<'a>,
        opset: i64,
        name: &'a str,
        op: &'a str,
        inputs: Vec<Option<ValueId>>,
        outputs: &'a [String],
        reader: &'a mut TensorReader,
    ) -> NodeCtx<'a> {
        NodeCtx {
            graph,
            attrs,
            opset,
            name,
            op,
            inputs,
            outputs,
            reader,
            scope: None,
            seq_inputs: Vec::new(),
            seq_outputs: Vec::new(),
        }
    }

    /// Lets the builder import subgraphs ([`NodeCtx::subgraph`]) that read the values
    /// of `scope`.
    pub(crate) fn in_scope(mut self, state: &'a ImportState<'a>, scope: &'a Scope<'a>) -> Self {
        self.scope = Some((state, scope));
        self
    }

    /// Imports one copy of subgraph `g` with its inputs bound to `bind`, IR names
    /// prefixed `<node>/<tag>`, and returns the values of its outputs.
    pub(crate) fn subgraph(
        &mut self,
        g: &GraphProto,
        tag: &str,
        bind: &[ValueId],
    ) -> Result<Vec<ValueId>, IrError> {
        let Some((state, scope)) = self.scope else {
            return Err(IrError::Internal(format!(
                "node `{}` imports a subgraph outside an import scope",
                self.name
            )));
        };
        let prefix = format!("{}/{tag}", self.name);
        crate::import::import_subgraph(
            self.graph,
            self.reader,
            state,
            scope,
            g,
            &prefix,
            bind,
            (self.name, self.op),
        )
    }

    /// Input `i`, `None` when absent (past the end or an empty name).
    pub(crate) fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }

    /// Gives the node its sequence inputs (by input index).
    pub(crate) fn with_sequences(mut self, seqs: Vec<Option<Sequence>>) -> Self {
        self.seq_inputs = seqs;
        self
    }

    /// Input `i` as a sequence, `None` when it is absent or a tensor.
    pub(crate) fn seq_input(&self, i: usize) -> Option<&Sequence> {
        self.seq_inputs.get(i).and_then(Option::as_ref)
    }

    /// Input `i`, which must be a sequence.
    pub(crate) fn req_seq(&self, i: usize) -> Result<Sequence, IrError> {
        self.seq_input(i).cloned().ok_or_else(|| {
            self.shape_error(format!("input {i} must be a sequence (of static length)"))
        })
    }

    /// Records output `i` as the sequence `s`.
    pub(crate) fn emit_sequence(&mut self, i: usize, s: Sequence) {
        self.seq_outputs.push((i, s));
    }

    /// Replaces input `i` (for adapters that normalise an older operator form before
    /// the current builder runs, see `ops/legacy.rs`).
    pub(crate) fn replace_input(&mut self, i: usize, v: ValueId) {
        if let Some(slot) = self.inputs.get_mut(i) {
            *slot = Some(v);
        }
    }

    /// All inputs as written (absent optional inputs are `None`).
    pub(crate) fn inputs(&self) -> &[Option<ValueId>] {
        &self.inputs
    }

    /// Input `i`, which the op requires.
    pub(crate) fn req(&self, i: usize) -> Result<ValueId, IrError> {
        self.input(i)
            .ok_or_else(|| self.shape_error(format!("required input {i} is missing")))
    }

    pub(crate) fn ty(&self, v: ValueId) -> &TensorType {
        &self.graph.value(v).ty
    }

    /// Static dims of `v`; a shape error naming the node when any dim is symbolic.
    pub(crate) fn dims(&self, v: ValueId) -> Result<Vec<u64>, IrError> {
        self.ty(v)
            .shape
            .as_fixed()
            .ok_or_else(|| self.shape_error(format!("shape {} is not static", self.ty(v).shape)))
    }

    /// The constant behind input `i`, if it is present and constant.
    pub(crate) fn const_input(&self, i: usize) -> Option<&Tensor> {
        self.input(i).and_then(|v| self.graph.const_value(v))
    }

    /// Input `i` as integers: `None` when absent, an error when present but not a
    /// compile-time constant. `what` names it in the error.
    pub(crate) fn const_ints(&self, i: usize, what: &str) -> Result<Option<Vec<i64>>, IrError> {
        if self.input(i).is_none() {
            return Ok(None);
        }
        match self.const_input(i) {
            Some(t) if t.dtype.is_int() => Ok(Some(t.to_i64_vec())),
            Some(t) => Err(self.shape_error(format!(
                "{what} (input {i}) must be an integer tensor, got {}",
                t.dtype
            ))),
            None => Err(self.not_constant(format!("{what} (input {i})"))),
        }
    }

    /// Input `i` as a scalar: `None` when absent, an error when present but not a
    /// one-element constant.
    pub(crate) fn const_scalar(&self, i: usize, what: &str) -> Result<Option<f64>, IrError> {
        if self.input(i).is_none() {
            return Ok(None);
        }
        match self.const_input(i) {
            Some(t) if t.num_elements() == 1 => Ok(t.to_f64_vec().first().copied()),
            Some(t) => Err(self.shape_error(format!(
                "{what} (input {i}) must be a scalar, got shape {:?}",
                t.shape
            ))),
            None => Err(self.not_constant(format!("{what} (input {i})"))),
        }
    }

    /// The model's name for output `i` (or a made-up one).
    pub(crate) fn output_name(&self, i: usize) -> String {
        match self.outputs.get(i) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("{}:{i}", self.name),
        }
    }

    /// Adds `op` as this node's final IR node: named like the ONNX node, its outputs
    /// named like the ONNX node's outputs.
    pub(crate) fn emit(&mut self, op: Op, inputs: Vec<Option<ValueId>>) -> Built {
        let names = (0..self.outputs.len().max(1))
            .map(|i| self.output_name(i))
            .collect();
        self.graph.add_node(self.name, op, inputs, names)
    }

    /// Like [`NodeCtx::emit`] for ops with exactly one output.
    pub(crate) fn emit1(&mut self, op: Op, inputs: Vec<Option<ValueId>>) -> Built {
        let out = self.emit(op, inputs)?;
        Ok(out.into_iter().take(1).collect())
    }

    /// How many outputs the ONNX node declares.
    pub(crate) fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// Adds a one-output IR node that produces the ONNX node's output `i` (for ops that
    /// become one IR node per output, like Split). Named `<node>/<i>`.
    pub(crate) fn emit_output(
        &mut self,
        i: usize,
        op: Op,
        inputs: Vec<Option<ValueId>>,
    ) -> Result<ValueId, IrError> {
        let name = format!("{}/{i}", self.name);
        let out = self
            .graph
            .add_node(name, op, inputs, vec![self.output_name(i)])?;
        out.first()
            .copied()
            .ok_or_else(|| IrError::Internal(format!("node `{}` produced no output", self.name)))
    }

    /// Adds an intermediate IR node of a desugared op, named `<node>/<suffix>`.
    pub(crate) fn inner(
        &mut self,
        suffix: &str,
        op: Op,
        inputs: Vec<Option<ValueId>>,
    ) -> Result<ValueId, IrError> {
        let name = format!("{}/{suffix}", self.name);
        let out = self.graph.add_node(&name, op, inputs, vec![name.clone()])?;
        out.first()
            .copied()
            .ok_or_else(|| IrError::Internal(format!("node `{name}` produced no output")))
    }

    /// Elements of a constant of `dims` that this node builds at import (a fill, a
    /// transform matrix), or an error naming the node when the product overflows or the
    /// tensor would exceed [`MAX_BUILT_BYTES`] — a corrupt or hostile shape must not
    /// make the importer allocate without bound.
    pub(crate) fn built_elements(&self, dims: &[u64], elem_bytes: u64) -> Result<u64, IrError> {
        dims.iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n.saturating_mul(elem_bytes) <= MAX_BUILT_BYTES)
            .ok_or_else(|| {
                self.shape_error(format!(
                    "shape {dims:?} is too large for a constant built at import (limit \
                     {MAX_BUILT_BYTES} bytes)"
                ))
            })
    }

    /// Adds a constant named `<node>/<suffix>`.
    pub(crate) fn constant(&mut self, suffix: &str, t: Tensor) -> ValueId {
        let name = format!("{}/{suffix}", self.name);
        self.graph.add_const(name, t)
    }

    /// Converts a tensor attribute's value.
    pub(crate) fn tensor(&mut self, t: &TensorProto, what: &str) -> Result<Tensor, IrError> {
        self.reader
            .tensor(t)
            .map_err(|e| self.attrs.error(format!("{what}: {}", e.message())))
    }

    pub(crate) fn shape_error(&self, message: impl Into<String>) -> IrError {
        IrError::Shape {
            node: self.name.to_string(),
            op: self.op.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn attr_error(&self, message: impl Into<String>) -> IrError {
        self.attrs.error(message)
    }

    pub(crate) fn not_constant(&self, what: impl Into<String>) -> IrError {
        IrError::NotConstant {
            node: self.name.to_string(),
            op: self.op.to_string(),
            what: what.into(),
        }
    }

    /// Turns an IR op-local error (from a helper like `resolve_reshape`) into one
    /// naming this node.
    pub(crate) fn op_error(&self, e: neoc_ir::error::OpError) -> IrError {
        e.at(self.name, self.op)
    }

    /// Normalises a possibly negative `axis` against `rank`.
    pub(crate) fn axis(&self, axis: i64, rank: usize) -> Result<usize, IrError> {
        neoc_ir::shape::normalize_axis(axis, rank).map_err(|e| self.op_error(e))
    }
}
