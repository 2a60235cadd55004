//! What an op builder sees: the node, its resolved inputs, and helpers to add IR nodes
//! and to move tensors between their plain (TF) and NCHW forms ([`crate::value`]).

use crate::proto::NodeDef;
use crate::value::{Forms, Origin, TensorId, Val, Values, TO_NCHW, TO_NHWC};
use neoc_ir::ops::{Reshape, Transpose};
use neoc_ir::{DType, Graph, IrError, Op, Tensor, TensorType, ValueId};

/// Largest constant an op's import may build (fills, ranges).
pub(crate) const MAX_BUILT_BYTES: u64 = 1 << 30;

/// The most IR nodes one op may expand into pieces (Unpack, Split outputs).
pub(crate) const MAX_PIECES: u64 = 1 << 16;

/// One TF node being imported.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) g: &'a mut Graph,
    vals: &'a mut Values,
    pub(crate) node: &'a NodeDef,
    inputs: &'a [Val],
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        g: &'a mut Graph,
        vals: &'a mut Values,
        node: &'a NodeDef,
        inputs: &'a [Val],
    ) -> Ctx<'a> {
        Ctx {
            g,
            vals,
            node,
            inputs,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.node.name
    }

    pub(crate) fn op(&self) -> &str {
        &self.node.op
    }

    // ---- errors -------------------------------------------------------------------

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

    pub(crate) fn not_constant(&self, what: impl Into<String>) -> IrError {
        IrError::NotConstant {
            node: self.node.name.clone(),
            op: self.node.op.clone(),
            what: what.into(),
        }
    }

    // ---- inputs -------------------------------------------------------------------

    pub(crate) fn n_inputs(&self) -> usize {
        self.inputs.len()
    }

    pub(crate) fn val(&self, i: usize) -> Result<Val, IrError> {
        self.inputs
            .get(i)
            .copied()
            .ok_or_else(|| self.err(format!("expects at least {} inputs", i + 1)))
    }

    /// Input `i`, which must be a tensor (not a resource).
    pub(crate) fn input(&self, i: usize) -> Result<TensorId, IrError> {
        match self.val(i)? {
            Val::Tensor(t) => Ok(t),
            Val::Resource(_) => Err(self.err(format!(
                "input {i} is a resource (a variable handle), not a tensor"
            ))),
        }
    }

    /// The type of tensor `t` in TF's (plain) dim order.
    pub(crate) fn ty(&self, t: TensorId) -> Result<TensorType, IrError> {
        let f = self.vals.get(t);
        if let Some(v) = f.plain {
            return Ok(self.g.value(v).ty.clone());
        }
        let v = f
            .nchw
            .ok_or_else(|| IrError::Internal("a tensor without forms".into()))?;
        let ty = &self.g.value(v).ty;
        let d = ty.dims().map_err(|e| e.at(self.name(), self.op()))?;
        let plain: Vec<u64> = TO_NHWC.iter().map(|&i| d[i]).collect();
        Ok(TensorType::new(ty.dtype, &plain))
    }

    /// Static dims of `t` in TF order.
    pub(crate) fn dims(&self, t: TensorId) -> Result<Vec<u64>, IrError> {
        self.ty(t)?.dims().map_err(|e| e.at(self.name(), self.op()))
    }

    pub(crate) fn dtype(&self, t: TensorId) -> Result<DType, IrError> {
        Ok(self.ty(t)?.dtype)
    }

    pub(crate) fn rank(&self, t: TensorId) -> Result<usize, IrError> {
        Ok(self.ty(t)?.rank())
    }

    /// True when `t` is held in NCHW form (it then has rank 4).
    pub(crate) fn has_nchw(&self, t: TensorId) -> bool {
        self.vals.get(t).nchw.is_some()
    }

    /// The plain (TF layout) IR value of `t`, materialised and cached on first use.
    pub(crate) fn plain(&mut self, t: TensorId) -> Result<ValueId, IrError> {
        let mut f = self.vals.get(t);
        if let Some(v) = f.plain {
            return Ok(v);
        }
        let n = f
            .nchw
            .ok_or_else(|| IrError::Internal("a tensor without forms".into()))?;
        let v = self.transpose(n, &TO_NHWC)?;
        f.plain = Some(v);
        self.vals.set(t, f);
        Ok(v)
    }

    /// The NCHW IR value of rank-4 tensor `t`, materialised and cached on first use.
    pub(crate) fn nchw(&mut self, t: TensorId) -> Result<ValueId, IrError> {
        let mut f = self.vals.get(t);
        if let Some(v) = f.nchw {
            return Ok(v);
        }
        let rank = self.rank(t)?;
        if rank != 4 {
            return Err(self.err(format!("expects a rank-4 (NHWC) input, got rank {rank}")));
        }
        let p = self.plain(t)?;
        let v = self.transpose(p, &TO_NCHW)?;
        f.nchw = Some(v);
        self.vals.set(t, f);
        Ok(v)
    }

    /// `t` as an operand of a rank-4 NCHW elementwise op: rank-4 tensors in NCHW form;
    /// lower ranks (which broadcast against the trailing dims) padded to rank 4 with
    /// leading ones, then permuted; single elements as they are.
    pub(crate) fn nchw_operand(&mut self, t: TensorId) -> Result<ValueId, IrError> {
        let d = self.dims(t)?;
        if d.len() == 4 {
            return self.nchw(t);
        }
        let p = self.plain(t)?;
        if d.iter().product::<u64>() == 1 || d.len() > 4 {
            return Ok(p);
        }
        let mut four = vec![1u64; 4 - d.len()];
        four.extend(&d);
        let r = self.add(Op::Reshape(Reshape { shape: four }), vec![p])?;
        self.transpose(r, &TO_NCHW)
    }

    /// Constant value of `t`, if it is one.
    pub(crate) fn konst(&mut self, t: TensorId) -> Option<Tensor> {
        let v = self.plain(t).ok()?;
        self.g.const_value(v).cloned()
    }

    /// Input `i` as constant integers (a shape, axes, paddings).
    pub(crate) fn const_ints(&mut self, i: usize, what: &str) -> Result<Vec<i64>, IrError> {
        let t = self.input(i)?;
        match self.konst(t) {
            Some(c) if c.dtype.is_int() => Ok(c.to_i64_vec()),
            Some(c) => Err(self.err(format!("{what} must be integers, got {}", c.dtype))),
            None => Err(self.not_constant(what)),
        }
    }

    /// Input `i` as a constant integer scalar (or one-element tensor).
    pub(crate) fn const_int(&mut self, i: usize, what: &str) -> Result<i64, IrError> {
        match self.const_ints(i, what)?.as_slice() {
            [v] => Ok(*v),
            v => Err(self.err(format!(
                "{what} must be one integer, got {} values",
                v.len()
            ))),
        }
    }

    // ---- building -----------------------------------------------------------------

    /// Adds `op` (one output) named after this node.
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

    pub(crate) fn transpose(&mut self, v: ValueId, perm: &[usize]) -> Result<ValueId, IrError> {
        self.add(
            Op::Transpose(Transpose {
                perm: perm.to_vec(),
            }),
            vec![v],
        )
    }

    pub(crate) fn reshape(&mut self, v: ValueId, shape: Vec<u64>) -> Result<ValueId, IrError> {
        if self.g.value(v).ty.shape.as_fixed().as_deref() == Some(&shape[..]) {
            return Ok(v);
        }
        self.add(Op::Reshape(Reshape { shape }), vec![v])
    }

    pub(crate) fn constant(&mut self, t: Tensor) -> ValueId {
        let name = format!("{}/const", self.node.name);
        self.g.add_const(name, t)
    }

    /// A scalar constant of `dtype` holding `x`.
    pub(crate) fn scalar(&mut self, dtype: DType, x: f64) -> ValueId {
        self.constant(Tensor::from_f64_as(dtype, vec![], &[x]))
    }

    /// A new tensor held in plain form.
    pub(crate) fn plain_out(&mut self, v: ValueId) -> Val {
        Val::Tensor(self.vals.push(Forms {
            plain: Some(v),
            nchw: None,
        }))
    }

    /// A new rank-4 tensor held in NCHW form.
    pub(crate) fn nchw_out(&mut self, v: ValueId) -> Val {
        Val::Tensor(self.vals.push(Forms {
            plain: None,
            nchw: Some(v),
        }))
    }

    /// How `t` was made, when it is part of a multi-op pattern.
    pub(crate) fn origin(&self, t: TensorId) -> Option<Origin> {
        self.vals.origin(t).cloned()
    }

    /// Records how the tensor `v` was made.
    pub(crate) fn set_origin(&mut self, v: Val, o: Origin) {
        if let Val::Tensor(t) = v {
            self.vals.set_origin(t, o);
        }
    }
}
