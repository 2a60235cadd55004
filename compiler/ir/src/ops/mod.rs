//! Operators of the graph IR, grouped by family; one typed attribute struct per op.
//!
//! Each family module gives, for its ops, shape inference (`infer`) and, where constant
//! folding needs it, reference evaluation on constants (`eval`). Opset differences are
//! resolved by the frontends: an IR op has exactly one meaning (e.g. [`Softmax`] is
//! always the single-axis form of ONNX opset 13).

pub mod arg_reduce;
pub mod conv;
pub mod conv_transpose;
pub mod cumsum;
pub mod dynamic_quantize;
pub mod elementwise;
pub mod expand;
pub mod fused;
pub mod grid_sample;
pub mod layer_norm;
pub mod layout;
pub mod linalg;
pub mod lrn;
pub mod movement;
pub mod normalization;
pub mod pad;
pub mod pool;
pub mod quant;
pub mod reduce;
pub mod resize;
pub mod scatter;
pub mod select;
pub mod topk;

pub use arg_reduce::ArgReduce;
pub use conv::Conv;
pub use conv_transpose::ConvTranspose;
pub use cumsum::CumSum;
pub use elementwise::{BinaryOp, UnaryOp};
pub use expand::Expand;
pub use fused::{ElemInstr, ElemProgram, Fused};
pub use grid_sample::{GridMode, GridPadding, GridSample};
pub use layer_norm::LayerNorm;
pub use layout::{BlockedConv, Blocking};
pub use linalg::Gemm;
pub use lrn::Lrn;
pub use movement::{
    Cast, Concat, Gather, GatherElements, Reshape, Shape, Slice, SliceAxis, Transpose,
};
pub use normalization::{BatchNorm, Softmax};
pub use pad::{Pad, PadMode};
pub use pool::{GlobalPool, Pool, PoolKind};
pub use quant::QConv;
pub use reduce::{Reduce, ReduceKind};
pub use resize::Resize;
pub use scatter::{GatherNd, ScatterElements, ScatterNd, ScatterReduction};
pub use topk::TopK;

use crate::error::{OpError, OpResult};
use crate::shape::TensorType;
use crate::tensor::Tensor;
use std::fmt;

/// A graph operator with its typed attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Elementwise function of one input.
    Unary(UnaryOp),
    /// Elementwise function of two inputs with numpy broadcasting.
    Binary(BinaryOp),
    /// N-d convolution: inputs `x, w[, bias]`.
    Conv(Conv),
    /// N-d transposed convolution: inputs `x, w[, bias]`.
    ConvTranspose(ConvTranspose),
    /// Max or average pooling over a window.
    Pool(Pool),
    /// Max or average over all spatial positions.
    GlobalPool(GlobalPool),
    /// `alpha * op(A) @ op(B) + beta * C`: inputs `a, b[, c]`.
    Gemm(Gemm),
    /// Numpy `matmul`: batched, broadcasting, 1-D operands promoted.
    MatMul,
    /// Inference batch normalisation: inputs `x, scale, bias, mean, var`.
    BatchNorm(BatchNorm),
    /// Softmax (or log-softmax) along one axis.
    Softmax(Softmax),
    /// Reinterpretation of the same elements under a new static shape (also what
    /// Flatten, Squeeze and Unsqueeze import as).
    Reshape(Reshape),
    Transpose(Transpose),
    Concat(Concat),
    /// Gather along one axis: inputs `data, indices`.
    Gather(Gather),
    /// Per-element gather along one axis: inputs `data, indices` of equal rank.
    GatherElements(GatherElements),
    Slice(Slice),
    /// The shape of the input as an `i64` tensor (always folded: shapes are static).
    Shape(Shape),
    Cast(Cast),
    /// The input, unchanged.
    Identity,
    /// Layer normalization over trailing dims: inputs `x[, scale[, bias]]`.
    LayerNorm(LayerNorm),
    /// Local response normalization across channels.
    Lrn(Lrn),
    /// Nearest/linear/cubic resampling to a static output shape.
    Resize(Resize),
    /// Cumulative sum along one axis.
    CumSum(CumSum),
    /// A fused chain of elementwise functions over broadcast inputs.
    Elementwise(ElemProgram),
    /// An anchor op (Conv, Gemm, ...) with an elementwise epilogue.
    Fused(Fused),
    /// Constant, reflect, edge or wrap padding; negative pads crop.
    Pad(Pad),
    /// A reduction (sum, mean, max, ...) over some axes.
    Reduce(Reduce),
    /// `cond ? x : y` with numpy broadcasting: inputs `cond, x, y`.
    Where,
    /// Broadcast copy to a larger static shape.
    Expand(Expand),
    /// ArgMax/ArgMin along one axis (`int64` indices).
    ArgReduce(ArgReduce),
    /// Samples `x` at the normalized coordinates of `grid`: inputs `x, grid`.
    GridSample(GridSample),
    /// The `k` best elements along an axis: outputs values and `int64` indices.
    TopK(TopK),
    /// Gather of index tuples: inputs `data, indices`.
    GatherNd(GatherNd),
    /// Scatter of slices addressed by index tuples: inputs `data, indices, updates`.
    ScatterNd(ScatterNd),
    /// Per-element scatter along one axis: inputs `data, indices, updates`.
    ScatterElements(ScatterElements),
    /// Planar `[N, C, S...]` → channel-blocked `[N, C/block, S..., block]`.
    ToBlocked(Blocking),
    /// Channel-blocked → planar (the inverse of `ToBlocked`).
    FromBlocked(Blocking),
    /// 2-D convolution over channel-blocked tensors: inputs `x` (blocked), `w[, bias]`
    /// (planar).
    BlockedConv(BlockedConv),
    /// Integer convolution of a u8 input and i8 weights, with an i32, dequantized or
    /// requantized output: inputs `x, w[, bias[, scale]]` (`docs/quantization.md`).
    QConv(QConv),
    /// DynamicQuantizeLinear: `x` f32 → `y` u8, `scale` f32 `[]`, `zero` u8 `[]`
    /// (`ops/dynamic_quantize.rs`).
    DynamicQuantize,
}

impl Op {
    /// The operator's name in the text IR and in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Avg { .. } => "AveragePool",
            },
            Op::GlobalPool(g) => match g.kind {
                PoolKind::Max => "GlobalMaxPool",
                PoolKind::Avg { .. } => "GlobalAveragePool",
            },
            Op::Gemm(_) => "Gemm",
            Op::MatMul => "MatMul",
            Op::BatchNorm(_) => "BatchNormalization",
            Op::Softmax(s) if s.log => "LogSoftmax",
            Op::Softmax(_) => "Softmax",
            Op::Reshape(_) => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Concat(_) => "Concat",
            Op::Gather(_) => "Gather",
            Op::GatherElements(_) => "GatherElements",
            Op::Slice(_) => "Slice",
            Op::Shape(_) => "Shape",
            Op::Cast(_) => "Cast",
            Op::Identity => "Identity",
            Op::LayerNorm(_) => "LayerNormalization",
            Op::Lrn(_) => "LRN",
            Op::Resize(_) => "Resize",
            Op::CumSum(_) => "CumSum",
            Op::Elementwise(_) => "Elementwise",
            Op::Fused(_) => "Fused",
            Op::Pad(_) => "Pad",
            Op::Reduce(r) => r.kind.name(),
            Op::Where => "Where",
            Op::Expand(_) => "Expand",
            Op::ArgReduce(a) => a.name(),
            Op::GridSample(_) => "GridSample",
            Op::TopK(_) => "TopK",
            Op::GatherNd(_) => "GatherND",
            Op::ScatterNd(_) => "ScatterND",
            Op::ScatterElements(_) => "ScatterElements",
            Op::ToBlocked(_) => "ToBlocked",
            Op::FromBlocked(_) => "FromBlocked",
            Op::BlockedConv(_) => "BlockedConv",
            Op::QConv(_) => "QConv",
            Op::DynamicQuantize => "DynamicQuantizeLinear",
        }
    }

    /// Number of inputs accepted: (required, maximum). Optional inputs may be absent.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Unary(_)
            | Op::Pool(_)
            | Op::GlobalPool(_)
            | Op::Softmax(_)
            | Op::Reshape(_)
            | Op::Transpose(_)
            | Op::Slice(_)
            | Op::Shape(_)
            | Op::Cast(_)
            | Op::Pad(_)
            | Op::Reduce(_)
            | Op::Expand(_)
            | Op::ArgReduce(_)
            | Op::Lrn(_)
            | Op::Resize(_)
            | Op::CumSum(_)
            | Op::ToBlocked(_)
            | Op::FromBlocked(_)
            | Op::TopK(_)
            | Op::DynamicQuantize
            | Op::Identity => (1, 1),
            Op::Binary(_)
            | Op::MatMul
            | Op::Gather(_)
            | Op::GatherElements(_)
            | Op::GatherNd(_)
            | Op::GridSample(_) => (2, 2),
            Op::ScatterNd(_) | Op::ScatterElements(_) => (3, 3),
            Op::Conv(_) | Op::Gemm(_) | Op::BlockedConv(_) | Op::ConvTranspose(_) => (2, 3),
            Op::QConv(_) => (2, 7),
            Op::BatchNorm(_) => (5, 5),
            Op::Where => (3, 3),
            Op::Concat(_) | Op::Elementwise(_) => (1, usize::MAX),
            Op::Fused(f) => (f.anchor.arity().0, usize::MAX),
            Op::LayerNorm(_) => (1, 3),
        }
    }

    /// Infers the output types from the input types. `inputs[i]` is `None` for an
    /// absent optional input.
    pub fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<Vec<TensorType>> {
        let (min, max) = self.arity();
        if inputs.len() < min || inputs.len() > max || inputs[..min].iter().any(|i| i.is_none()) {
            return Err(OpError::Shape(format!(
                "expects {} inputs, got {}",
                if min == max {
                    format!("{min}")
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                },
                inputs.iter().filter(|i| i.is_some()).count()
            )));
        }
        let req: Vec<&TensorType> = inputs.iter().flatten().copied().collect();
        let one = |t: TensorType| Ok(vec![t]);
        match self {
            Op::Unary(u) => one(u.infer(req[0])?),
            Op::Binary(b) => one(b.infer(req[0], req[1])?),
            Op::Conv(c) => one(c.infer(req[0], req[1], inputs.get(2).copied().flatten())?),
            Op::ConvTranspose(c) => {
                one(c.infer(req[0], req[1], inputs.get(2).copied().flatten())?)
            }
            Op::Pool(p) => one(p.infer(req[0])?),
            Op::GlobalPool(g) => one(g.infer(req[0])?),
            Op::Gemm(g) => one(g.infer(req[0], req[1], inputs.get(2).copied().flatten())?),
            Op::MatMul => one(linalg::infer_matmul(req[0], req[1])?),
            Op::BatchNorm(b) => one(b.infer(&req)?),
            Op::Softmax(s) => one(s.infer(req[0])?),
            Op::Reshape(r) => one(r.infer(req[0])?),
            Op::Transpose(t) => one(t.infer(req[0])?),
            Op::Concat(c) => one(c.infer(&req)?),
            Op::Gather(g) => one(g.infer(req[0], req[1])?),
            Op::GatherElements(g) => one(g.infer(req[0], req[1])?),
            Op::Slice(s) => one(s.infer(req[0])?),
            Op::Shape(s) => one(s.infer(req[0])?),
            Op::Cast(c) => one(TensorType {
                dtype: c.to,
                shape: req[0].shape.clone(),
            }),
            Op::Identity => one(req[0].clone()),
            Op::LayerNorm(l) => one(l.infer(inputs)?),
            Op::Lrn(l) => one(l.infer(req[0])?),
            Op::Resize(r) => one(r.infer(req[0])?),
            Op::CumSum(c) => one(c.infer(req[0])?),
            Op::Elementwise(p) => one(p.infer(&req)?),
            Op::Fused(f) => one(f.infer(inputs)?),
            Op::Pad(p) => one(p.infer(req[0])?),
            Op::Reduce(r) => one(r.infer(req[0])?),
            Op::Where => one(select::infer_where(req[0], req[1], req[2])?),
            Op::Expand(e) => one(e.infer(req[0])?),
            Op::ArgReduce(a) => one(a.infer(req[0])?),
            Op::TopK(t) => t.infer(req[0]),
            Op::GridSample(g) => one(g.infer(req[0], req[1])?),
            Op::GatherNd(g) => one(g.infer(req[0], req[1])?),
            Op::ScatterNd(s) => one(s.infer(req[0], req[1], req[2])?),
            Op::ScatterElements(s) => one(s.infer(req[0], req[1], req[2])?),
            Op::ToBlocked(b) => one(b.infer_to(req[0])?),
            Op::FromBlocked(b) => one(b.infer_from(req[0])?),
            Op::BlockedConv(c) => one(c.infer(req[0], req[1], inputs.get(2).copied().flatten())?),
            Op::QConv(c) => one(c.infer(inputs)?),
            Op::DynamicQuantize => dynamic_quantize::infer(req[0]),
        }
    }

    /// Evaluates the op on constant inputs, for constant folding. `None` when this op
    /// has no reference evaluation (it is then left for code generation).
    pub fn eval(
        &self,
        inputs: &[Option<&Tensor>],
        out_types: &[TensorType],
    ) -> Option<OpResult<Vec<Tensor>>> {
        let req: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        let out = out_types.first()?;
        if let Op::TopK(t) = self {
            return Some(t.eval(req[0], out_types));
        }
        if let Op::DynamicQuantize = self {
            return Some(dynamic_quantize::eval(req[0]));
        }
        let r = match self {
            Op::Unary(u) => u.eval(req[0], out),
            Op::Binary(b) => b.eval(req[0], req[1], out),
            Op::Reshape(_) | Op::Identity => out.dims().and_then(|d| req[0].reshaped(d)),
            Op::Transpose(t) => t.eval(req[0]),
            Op::Concat(c) => c.eval(&req, out),
            Op::Gather(g) => g.eval(req[0], req[1], out),
            Op::GatherElements(g) => g.eval(req[0], req[1], out),
            Op::Slice(s) => s.eval(req[0], out),
            Op::Shape(s) => Ok(s.eval(req[0])),
            Op::Pad(p) => p.eval(req[0], out),
            Op::Reduce(r) => r.eval(req[0], out),
            Op::Where => select::eval_where(req[0], req[1], req[2], out),
            Op::Expand(e) => e.eval(req[0]),
            Op::ArgReduce(a) => a.eval(req[0], out),
            Op::LayerNorm(l) => l.eval(inputs, out),
            Op::Lrn(l) => l.eval(req[0], out),
            Op::Resize(r) => r.eval(req[0], out),
            Op::CumSum(c) => c.eval(req[0], out),
            Op::Elementwise(p) => p.eval(&req, out),
            Op::Fused(f) => {
                let anchor_types = f.anchor.infer(
                    &inputs[..f.anchor_inputs.min(inputs.len())]
                        .iter()
                        .map(|t| t.map(|t| TensorType::new(t.dtype, &t.shape)))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(|t| t.as_ref())
                        .collect::<Vec<_>>(),
                );
                let anchor_out = match anchor_types {
                    Ok(t) => f.anchor.eval(&inputs[..f.anchor_inputs], &t)?,
                    Err(e) => Err(e),
                };
                anchor_out.and_then(|a| {
                    let mut ins: Vec<&Tensor> = vec![&a[0]];
                    ins.extend(inputs[f.anchor_inputs..].iter().flatten().copied());
                    f.epilogue.eval(&ins, out)
                })
            }
            Op::Cast(c) => Ok(Tensor::from_f64_as(
                c.to,
                req[0].shape.clone(),
                &req[0].to_f64_vec(),
            )),
            Op::Conv(c) => crate::reference::conv(c, inputs, out),
            Op::ConvTranspose(c) => c.eval(inputs, out),
            Op::GatherNd(g) => g.eval(req[0], req[1], out),
            Op::GridSample(g) => g.eval(req[0], req[1], out),
            Op::ScatterNd(s) => s.eval(req[0], req[1], req[2]),
            Op::ScatterElements(s) => s.eval(req[0], req[1], req[2]),
            Op::ToBlocked(b) => b.to_blocked(req[0]),
            Op::FromBlocked(b) => b.from_blocked(req[0]),
            Op::BlockedConv(c) => c.eval(inputs, out),
            Op::QConv(c) => c.eval(inputs, out),
            Op::Pool(p) => crate::reference::pool(p, req[0], out),
            Op::GlobalPool(g) => crate::reference::global_pool(g, req[0], out),
            Op::Gemm(g) => crate::reference::gemm(g, inputs, out),
            Op::MatMul => crate::reference::matmul(req[0], req[1], out),
            Op::BatchNorm(b) => crate::reference::batch_norm(b, &req, out),
            Op::Softmax(s) => crate::reference::softmax(s, req[0], out),
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        Some(r.map(|t| vec![t]))
    }

    /// True for ops whose output is the input's bytes unchanged (views).
    pub fn is_view(&self) -> bool {
        matches!(self, Op::Reshape(_) | Op::Identity)
    }
}

impl fmt::Display for Op {
    /// The op as the text IR writes it: `Name{key=value ...}` (no braces without
    /// attributes). Every attribute is printed, floats with `{:?}`, so that
    /// [`crate::parse`] reads back an equal op; keep the two in step.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let attrs = match self {
            Op::Unary(u) => u.attrs(),
            Op::Conv(c) => c.attrs(),
            Op::ConvTranspose(c) => c.attrs(),
            Op::Pool(p) => p.attrs(),
            Op::GlobalPool(g) => match g.kind {
                PoolKind::Avg {
                    count_include_pad: true,
                } => "count_include_pad=true".to_string(),
                _ => String::new(),
            },
            Op::Gemm(g) => format!(
                "alpha={:?} beta={:?} trans_a={} trans_b={}",
                g.alpha, g.beta, g.trans_a, g.trans_b
            ),
            Op::BatchNorm(b) => format!("epsilon={:?}", b.epsilon),
            Op::Softmax(s) => format!("axis={}", s.axis),
            Op::Reshape(r) => format!("shape={:?}", r.shape),
            Op::Transpose(t) => format!("perm={:?}", t.perm),
            Op::Concat(c) => format!("axis={}", c.axis),
            Op::Gather(g) => format!("axis={}", g.axis),
            Op::GatherElements(g) => format!("axis={}", g.axis),
            Op::Slice(s) => {
                let list = |f: fn(&SliceAxis) -> i64| {
                    let v: Vec<i64> = s.axes.iter().map(f).collect();
                    format!("{v:?}")
                };
                format!(
                    "axes={} starts={} ends={} steps={}",
                    list(|a| a.axis as i64),
                    list(|a| a.start),
                    list(|a| a.end),
                    list(|a| a.step)
                )
            }
            Op::Shape(s) => format!("start={} end={}", s.start, s.end),
            Op::Cast(c) => format!("to={}", c.to),
            Op::Pad(p) => p.attrs(),
            Op::Reduce(r) => r.attrs(),
            Op::Expand(e) => format!("shape={:?}", e.shape),
            Op::ArgReduce(a) => a.attrs(),
            Op::TopK(t) => t.attrs(),
            Op::GridSample(g) => g.attrs(),
            Op::GatherNd(g) => format!("batch_dims={}", g.batch_dims),
            Op::ScatterNd(s) => format!("reduction={}", s.reduction.name()),
            Op::ScatterElements(s) => format!("axis={} reduction={}", s.axis, s.reduction.name()),
            Op::ToBlocked(b) | Op::FromBlocked(b) => format!("block={}", b.block),
            Op::BlockedConv(c) => c.attrs(),
            Op::QConv(c) => c.attrs(),
            Op::LayerNorm(l) => format!("axis={} epsilon={:?}", l.axis, l.epsilon),
            Op::Lrn(l) => format!(
                "size={} alpha={:?} beta={:?} bias={:?}",
                l.size, l.alpha, l.beta, l.bias
            ),
            Op::Resize(r) => r.attrs(),
            Op::CumSum(c) => format!(
                "axis={} exclusive={} reverse={}",
                c.axis, c.exclusive, c.reverse
            ),
            Op::Elementwise(p) => format!("{p}"),
            Op::Fused(fz) => format!(
                "anchor_inputs={} {} -> {}",
                fz.anchor_inputs, fz.anchor, fz.epilogue
            ),
            _ => String::new(),
        };
        if !attrs.is_empty() {
            write!(f, "{{{attrs}}}")?;
        }
        Ok(())
    }
}

/// Shared helper: the input's static dims or a shape error.
pub(crate) fn dims(t: &TensorType) -> OpResult<Vec<u64>> {
    t.dims()
}
