//! What an aten builder sees: the call's arguments, by position or schema name, and
//! helpers to add IR nodes.
//!
//! Arguments are looked up by both position and name because the two formats write
//! them differently: torch.export names every argument after the operator's schema and
//! omits those left at their default, TorchScript code passes them positionally
//! (keyword-only ones by name). A builder asks for `(position, name)` and a default, so
//! the schema is written once, in the builder.

use crate::value::Val;
use neoc_ir::ops::{BinaryOp, Cast, Reshape, Transpose, UnaryOp};
use neoc_ir::{DType, Graph, IrError, Op, Tensor, TensorType, ValueId};

/// Largest constant an operator's import may build (fills, ranges).
pub(crate) const MAX_BUILT_BYTES: u64 = 1 << 30;

/// The most IR nodes one call may unroll into pieces (split outputs, adaptive-pool
/// bins, recurrent steps): a hostile shape must not make the importer loop or allocate
/// without bound.
pub(crate) const MAX_PIECES: u64 = 1 << 16;

/// One aten operator call being imported.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) graph: &'a mut Graph,
    /// The node's name (torch.export node output, or a TorchScript location).
    pub(crate) node: &'a str,
    /// The operator as `aten::name`.
    pub(crate) op: &'a str,
    pos: &'a [Val],
    named: &'a [(String, Val)],
    /// IR nodes added so far (for unique names).
    added: usize,
}

/// A scalar or tensor operand of an elementwise op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Operand {
    Tensor(ValueId),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        graph: &'a mut Graph,
        node: &'a str,
        op: &'a str,
        pos: &'a [Val],
        named: &'a [(String, Val)],
    ) -> Call<'a> {
        Call {
            graph,
            node,
            op,
            pos,
            named,
            added: 0,
        }
    }

    // ---- errors -------------------------------------------------------------------

    pub(crate) fn err(&self, message: impl Into<String>) -> IrError {
        IrError::Shape {
            node: self.node.to_string(),
            op: self.op.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn attr_err(&self, message: impl Into<String>) -> IrError {
        IrError::Attribute {
            node: self.node.to_string(),
            op: self.op.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn not_constant(&self, what: impl Into<String>) -> IrError {
        IrError::NotConstant {
            node: self.node.to_string(),
            op: self.op.to_string(),
            what: what.into(),
        }
    }

    // ---- arguments ----------------------------------------------------------------

    /// Argument `name` (or positional `i`); `None` when absent or `None`.
    pub(crate) fn get(&self, i: usize, name: &str) -> Option<&'a Val> {
        let v = match self.named.iter().find(|(n, _)| n == name) {
            Some((_, v)) => Some(v),
            None => self.pos.get(i),
        };
        v.filter(|v| **v != Val::None)
    }

    /// True when argument `name` (or `i`) is given (and not `None`).
    pub(crate) fn has(&self, i: usize, name: &str) -> bool {
        self.get(i, name).is_some()
    }

    /// The number of positional arguments.
    pub(crate) fn positional(&self) -> usize {
        self.pos.len()
    }

    fn wrong(&self, name: &str, want: &str, got: &Val) -> IrError {
        self.attr_err(format!(
            "argument `{name}` must be {want}, got {}",
            got.kind()
        ))
    }

    /// A required tensor argument.
    pub(crate) fn tensor(&self, i: usize, name: &str) -> Result<ValueId, IrError> {
        match self.get(i, name) {
            Some(Val::Tensor(v)) => Ok(*v),
            Some(other) => Err(self.wrong(name, "a tensor", other)),
            None => Err(self.attr_err(format!("argument `{name}` is missing"))),
        }
    }

    /// An optional tensor argument.
    pub(crate) fn opt_tensor(&self, i: usize, name: &str) -> Result<Option<ValueId>, IrError> {
        match self.get(i, name) {
            Some(Val::Tensor(v)) => Ok(Some(*v)),
            Some(other) => Err(self.wrong(name, "a tensor or None", other)),
            None => Ok(None),
        }
    }

    /// The constant scalar held by `v` (an int/float/bool, or a one-element constant
    /// tensor such as TorchScript's `NumToTensor` values).
    fn scalar_of(&self, v: &Val) -> Option<f64> {
        match v {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
            Val::Tensor(t) => {
                let c = self.graph.const_value(*t)?;
                (c.num_elements() == 1).then(|| c.to_f64_vec()[0])
            }
            _ => None,
        }
    }

    fn int_of(&self, v: &Val) -> Option<i64> {
        match v {
            Val::Int(i) => Some(*i),
            Val::Bool(b) => Some(i64::from(*b)),
            Val::Tensor(t) => {
                let c = self.graph.const_value(*t)?;
                (c.num_elements() == 1 && !c.dtype.is_float()).then(|| c.to_i64_vec()[0])
            }
            _ => None,
        }
    }

    /// An optional int argument.
    pub(crate) fn opt_int(&self, i: usize, name: &str) -> Result<Option<i64>, IrError> {
        match self.get(i, name) {
            None => Ok(None),
            Some(v) => self
                .int_of(v)
                .map(Some)
                .ok_or_else(|| self.wrong(name, "a constant int", v)),
        }
    }

    /// An int argument with a default.
    pub(crate) fn int(&self, i: usize, name: &str, default: i64) -> Result<i64, IrError> {
        Ok(self.opt_int(i, name)?.unwrap_or(default))
    }

    /// A required int argument.
    pub(crate) fn req_int(&self, i: usize, name: &str) -> Result<i64, IrError> {
        self.opt_int(i, name)?
            .ok_or_else(|| self.attr_err(format!("argument `{name}` is missing")))
    }

    /// An optional float argument (ints are accepted).
    pub(crate) fn opt_float(&self, i: usize, name: &str) -> Result<Option<f64>, IrError> {
        match self.get(i, name) {
            None => Ok(None),
            Some(v) => self
                .scalar_of(v)
                .map(Some)
                .ok_or_else(|| self.wrong(name, "a constant number", v)),
        }
    }

    /// A float argument with a default.
    pub(crate) fn float(&self, i: usize, name: &str, default: f64) -> Result<f64, IrError> {
        Ok(self.opt_float(i, name)?.unwrap_or(default))
    }

    /// A bool argument with a default.
    pub(crate) fn bool(&self, i: usize, name: &str, default: bool) -> Result<bool, IrError> {
        match self.get(i, name) {
            None => Ok(default),
            Some(v) => self
                .scalar_of(v)
                .map(|x| x != 0.0)
                .ok_or_else(|| self.wrong(name, "a constant bool", v)),
        }
    }

    /// A string argument with a default.
    pub(crate) fn string(&self, i: usize, name: &str, default: &str) -> Result<String, IrError> {
        match self.get(i, name) {
            None => Ok(default.to_string()),
            Some(Val::Str(s)) => Ok(s.clone()),
            Some(v) => Err(self.wrong(name, "a string", v)),
        }
    }

    /// An optional `int[]` argument. A single int stands for a one-element list (the
    /// schema's `int[2] stride=1` broadcasting is done by [`Call::ints_n`]); a constant
    /// integer tensor is accepted too.
    pub(crate) fn opt_ints(&self, i: usize, name: &str) -> Result<Option<Vec<i64>>, IrError> {
        let Some(v) = self.get(i, name) else {
            return Ok(None);
        };
        match v {
            Val::List(items) => items
                .iter()
                .map(|x| {
                    self.int_of(x)
                        .ok_or_else(|| self.wrong(name, "a list of constant ints", x))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Val::Tensor(t) => match self.graph.const_value(*t) {
                Some(c) if !c.dtype.is_float() && c.shape.len() <= 1 => Ok(Some(c.to_i64_vec())),
                _ => Err(self.wrong(name, "a list of constant ints", v)),
            },
            other => self
                .int_of(other)
                .map(|x| Some(vec![x]))
                .ok_or_else(|| self.wrong(name, "a list of ints", other)),
        }
    }

    /// A required `int[]` argument.
    pub(crate) fn ints(&self, i: usize, name: &str) -> Result<Vec<i64>, IrError> {
        self.opt_ints(i, name)?
            .ok_or_else(|| self.attr_err(format!("argument `{name}` is missing")))
    }

    /// An `int[n]` argument: a one-element list is repeated `n` times (the schema's
    /// broadcasting of `stride=2` to `[2, 2]`); absent or empty gives `default`.
    pub(crate) fn ints_n(
        &self,
        i: usize,
        name: &str,
        n: usize,
        default: &[i64],
    ) -> Result<Vec<i64>, IrError> {
        let v = self.opt_ints(i, name)?.unwrap_or_default();
        let v = match v.len() {
            0 => default.to_vec(),
            1 => vec![v[0]; n],
            _ => v,
        };
        if v.len() != n {
            return Err(self.attr_err(format!(
                "argument `{name}` must have {n} entries, got {v:?}"
            )));
        }
        Ok(v)
    }

    /// A `Tensor[]` argument (`None` entries of `Tensor?[]` stay `None`).
    pub(crate) fn tensors(&self, i: usize, name: &str) -> Result<Vec<Option<ValueId>>, IrError> {
        match self.get(i, name) {
            Some(Val::List(items)) => items
                .iter()
                .map(|x| match x {
                    Val::Tensor(t) => Ok(Some(*t)),
                    Val::None => Ok(None),
                    other => Err(self.wrong(name, "a list of tensors", other)),
                })
                .collect(),
            Some(Val::Tensor(t)) => Ok(vec![Some(*t)]),
            Some(other) => Err(self.wrong(name, "a list of tensors", other)),
            None => Err(self.attr_err(format!("argument `{name}` is missing"))),
        }
    }

    /// A scalar-or-tensor operand (`Tensor other` or `Scalar other`).
    pub(crate) fn operand(&self, i: usize, name: &str) -> Result<Operand, IrError> {
        match self.get(i, name) {
            Some(Val::Tensor(t)) => Ok(Operand::Tensor(*t)),
            Some(Val::Int(x)) => Ok(Operand::Int(*x)),
            Some(Val::Float(x)) => Ok(Operand::Float(*x)),
            Some(Val::Bool(x)) => Ok(Operand::Bool(*x)),
            Some(other) => Err(self.wrong(name, "a tensor or a number", other)),
            None => Err(self.attr_err(format!("argument `{name}` is missing"))),
        }
    }

    /// An optional `ScalarType` argument (a c10 dtype number).
    pub(crate) fn opt_dtype(&self, i: usize, name: &str) -> Result<Option<DType>, IrError> {
        match self.opt_int(i, name)? {
            None => Ok(None),
            Some(code) => crate::tensors::dtype_from_c10(code)
                .map(Some)
                .ok_or_else(|| self.attr_err(format!("dtype {code} is not supported"))),
        }
    }

    // ---- types --------------------------------------------------------------------

    pub(crate) fn ty(&self, v: ValueId) -> &TensorType {
        &self.graph.value(v).ty
    }

    pub(crate) fn dtype(&self, v: ValueId) -> DType {
        self.graph.value(v).ty.dtype
    }

    pub(crate) fn dims(&self, v: ValueId) -> Result<Vec<u64>, IrError> {
        self.ty(v)
            .shape
            .as_fixed()
            .ok_or_else(|| self.err(format!("shape {} is not static", self.ty(v).shape)))
    }

    pub(crate) fn rank(&self, v: ValueId) -> usize {
        self.ty(v).rank()
    }

    /// Normalises a possibly negative `axis` against `rank`.
    pub(crate) fn axis(&self, axis: i64, rank: usize) -> Result<usize, IrError> {
        neoc_ir::shape::normalize_axis(axis, rank).map_err(|e| e.at(self.node, self.op))
    }

    // ---- building -----------------------------------------------------------------

    fn next_name(&mut self) -> String {
        self.added += 1;
        if self.added == 1 {
            self.node.to_string()
        } else {
            format!("{}/{}", self.node, self.added - 1)
        }
    }

    /// Adds a one-output IR node.
    pub(crate) fn add(&mut self, op: Op, inputs: &[ValueId]) -> Result<ValueId, IrError> {
        self.add_opt(op, inputs.iter().map(|&v| Some(v)).collect())
    }

    /// Adds a one-output IR node with optional inputs.
    pub(crate) fn add_opt(
        &mut self,
        op: Op,
        inputs: Vec<Option<ValueId>>,
    ) -> Result<ValueId, IrError> {
        let name = self.next_name();
        let out = self.graph.add_node(&name, op, inputs, vec![name.clone()])?;
        out.first()
            .copied()
            .ok_or_else(|| IrError::Internal(format!("node `{name}` produced no output")))
    }

    /// Adds an IR node with several outputs (TopK).
    pub(crate) fn add_multi(
        &mut self,
        op: Op,
        inputs: &[ValueId],
    ) -> Result<Vec<ValueId>, IrError> {
        let name = self.next_name();
        self.graph.add_node(
            &name,
            op,
            inputs.iter().map(|&v| Some(v)).collect(),
            Vec::new(),
        )
    }

    /// Adds a constant.
    pub(crate) fn konst(&mut self, t: Tensor) -> ValueId {
        let name = format!("{}/const{}", self.node, self.added);
        self.added += 1;
        self.graph.add_const(name, t)
    }

    /// A 0-d constant of `dtype` holding `v`.
    pub(crate) fn scalar(&mut self, dtype: DType, v: f64) -> ValueId {
        self.konst(Tensor::from_f64_as(dtype, vec![], &[v]))
    }

    /// Elements of a constant of `dims` built at import, or an error when it would
    /// exceed [`MAX_BUILT_BYTES`].
    pub(crate) fn built_elements(&self, dims: &[u64], dtype: DType) -> Result<u64, IrError> {
        dims.iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n.saturating_mul(dtype.size_bytes() as u64) <= MAX_BUILT_BYTES)
            .ok_or_else(|| {
                self.err(format!(
                    "shape {dims:?} is too large for a constant built at import"
                ))
            })
    }

    /// `x[start..end]` along `axis` (step 1). The IR's Slice takes clamped bounds, so
    /// bounds outside the dim are an error here (a weight shorter than its layer says).
    pub(crate) fn slice1(
        &mut self,
        x: ValueId,
        axis: usize,
        start: u64,
        end: u64,
    ) -> Result<ValueId, IrError> {
        let d = self.dims(x)?;
        let Some(&n) = d.get(axis) else {
            return Err(self.err(format!("slice of axis {axis} of a tensor of shape {d:?}")));
        };
        if start > end || end > n {
            return Err(self.err(format!(
                "slice {start}..{end} of axis {axis} is out of range for shape {d:?}"
            )));
        }
        if start == 0 && end == n {
            return Ok(x);
        }
        self.add(
            Op::Slice(neoc_ir::ops::Slice {
                axes: vec![neoc_ir::ops::SliceAxis {
                    axis,
                    start: start as i64,
                    end: end as i64,
                    step: 1,
                }],
            }),
            &[x],
        )
    }

    /// An error unless `n` pieces are within [`MAX_PIECES`].
    pub(crate) fn check_pieces(&self, n: u64, what: &str) -> Result<(), IrError> {
        if n > MAX_PIECES {
            return Err(self.err(format!(
                "{n} {what} is more than the {MAX_PIECES} an operator may unroll into"
            )));
        }
        Ok(())
    }

    pub(crate) fn unary(&mut self, op: UnaryOp, x: ValueId) -> Result<ValueId, IrError> {
        self.add(Op::Unary(op), &[x])
    }

    /// A binary op on two tensors of the same dtype.
    pub(crate) fn binary(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        b: ValueId,
    ) -> Result<ValueId, IrError> {
        self.add(Op::Binary(op), &[a, b])
    }

    /// A binary op of a tensor and a constant scalar of the tensor's dtype.
    pub(crate) fn binary_scalar(
        &mut self,
        op: BinaryOp,
        a: ValueId,
        s: f64,
    ) -> Result<ValueId, IrError> {
        let c = self.scalar(self.dtype(a), s);
        self.binary(op, a, c)
    }

    pub(crate) fn cast(&mut self, x: ValueId, to: DType) -> Result<ValueId, IrError> {
        if self.dtype(x) == to {
            return Ok(x);
        }
        self.add(Op::Cast(Cast { to }), &[x])
    }

    pub(crate) fn reshape(&mut self, x: ValueId, shape: &[u64]) -> Result<ValueId, IrError> {
        if self.dims(x)? == shape {
            return Ok(x);
        }
        self.add(
            Op::Reshape(Reshape {
                shape: shape.to_vec(),
            }),
            &[x],
        )
    }

    pub(crate) fn transpose(&mut self, x: ValueId, perm: &[usize]) -> Result<ValueId, IrError> {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(x);
        }
        self.add(
            Op::Transpose(Transpose {
                perm: perm.to_vec(),
            }),
            &[x],
        )
    }

    /// `x` as an IR value: tensors as they are, numbers as 0-d constants of `like`'s
    /// dtype (or their own kind when there is no `like`).
    pub(crate) fn materialize(&mut self, x: Operand, like: Option<DType>) -> ValueId {
        match x {
            Operand::Tensor(t) => t,
            Operand::Int(i) => self.scalar(like.unwrap_or(DType::I64), i as f64),
            Operand::Float(f) => self.scalar(like.unwrap_or(DType::F32), f),
            Operand::Bool(b) => self.scalar(like.unwrap_or(DType::Bool), f64::from(u8::from(b))),
        }
    }
}
