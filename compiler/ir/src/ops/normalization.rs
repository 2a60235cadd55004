//! BatchNormalization (inference form) and Softmax / LogSoftmax.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__BatchNormalization.html> (the training
//! outputs and the opset < 9 `spatial` attribute are handled by the frontend) and
//! <https://onnx.ai/onnx/operators/onnx__Softmax.html>: before opset 13 Softmax flattened
//! the input to 2-D at `axis`; the frontend rewrites that form to Reshape → Softmax →
//! Reshape, so here Softmax always normalises along exactly one axis.

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::{normalize_axis, TensorType};

/// `y = (x - mean) / sqrt(var + epsilon) * scale + bias`, per channel (axis 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm {
    pub epsilon: f32,
}

impl BatchNorm {
    pub(crate) fn infer(&self, inputs: &[&TensorType]) -> OpResult<TensorType> {
        let xd = dims(inputs[0])?;
        if xd.len() < 2 {
            return shape_err("input must have a channel dimension");
        }
        for (name, t) in ["scale", "bias", "mean", "var"].iter().zip(&inputs[1..]) {
            if dims(t)? != [xd[1]] {
                return shape_err(format!("{name} shape {} is not [{}]", t.shape, xd[1]));
            }
        }
        Ok(inputs[0].clone())
    }
}

/// `exp(x - max) / sum(exp(x - max))` along `axis` (or its log when `log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Softmax {
    /// A non-negative axis.
    pub axis: usize,
    pub log: bool,
}

impl Softmax {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        normalize_axis(self.axis as i64, x.rank())?;
        if !x.dtype.is_float() {
            return shape_err(format!("Softmax is not defined for {}", x.dtype));
        }
        Ok(x.clone())
    }
}
