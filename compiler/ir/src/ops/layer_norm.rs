//! Layer normalization over the trailing dims `[axis, rank)`.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__LayerNormalization.html> (opset 17). Most
//! exporters (torch below opset 17) write it as primitives — ReduceMean, Sub, Pow,
//! ReduceMean, Add, Sqrt, Div, Mul, Add — which the `fuse-layernorm` pass turns back
//! into this op. Inputs: `x`, optional `scale` and `bias`, each broadcastable to the
//! normalized shape `x.shape[axis..]`.

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::{broadcast_shapes, normalize_axis, TensorType};
use crate::tensor::Tensor;

/// `y = (x - mean) / sqrt(var + epsilon) * scale + bias`, statistics over `[axis, rank)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerNorm {
    /// A non-negative axis.
    pub axis: usize,
    pub epsilon: f32,
}

impl LayerNorm {
    pub(crate) fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<TensorType> {
        let Some(Some(x)) = inputs.first() else {
            return shape_err("missing input");
        };
        let xd = dims(x)?;
        normalize_axis(self.axis as i64, xd.len())?;
        if !x.dtype.is_float() {
            return shape_err(format!("LayerNorm is not defined for {}", x.dtype));
        }
        let inner = &xd[self.axis..];
        for t in inputs.iter().skip(1).flatten() {
            let td = dims(t)?;
            if broadcast_shapes(&[&td, inner])? != inner {
                return shape_err(format!(
                    "scale/bias {} does not broadcast to the normalized shape {inner:?}",
                    t.shape
                ));
            }
        }
        Ok((*x).clone())
    }

    /// Reference evaluation (f64 statistics).
    pub(crate) fn eval(&self, inputs: &[Option<&Tensor>], out: &TensorType) -> OpResult<Tensor> {
        let Some(Some(x)) = inputs.first() else {
            return shape_err("missing input");
        };
        let xd = x.shape.clone();
        let inner_dims = &xd[self.axis..];
        let inner: usize = inner_dims.iter().product::<u64>() as usize;
        let xv = x.to_f64_vec();
        let param = |i: usize| -> Option<Vec<f64>> {
            let t = inputs.get(i).copied().flatten()?;
            let map = super::elementwise::broadcast_index(&t.shape, inner_dims);
            let v = t.to_f64_vec();
            Some(map.into_iter().map(|k| v[k]).collect())
        };
        let (scale, bias) = (param(1), param(2));
        let mut res = Vec::with_capacity(xv.len());
        for row in xv.chunks(inner.max(1)) {
            let n = row.len() as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let inv = 1.0 / (var + f64::from(self.epsilon)).sqrt();
            for (i, v) in row.iter().enumerate() {
                let mut y = (v - mean) * inv;
                if let Some(s) = &scale {
                    y *= s[i];
                }
                if let Some(b) = &bias {
                    y += b[i];
                }
                res.push(y);
            }
        }
        Ok(Tensor::from_f64_as(out.dtype, xd, &res))
    }
}
