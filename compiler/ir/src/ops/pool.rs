//! Pooling: MaxPool, AveragePool (windowed) and GlobalMaxPool / GlobalAveragePool.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__MaxPool.html>,
//! <https://onnx.ai/onnx/operators/onnx__AveragePool.html>. `ceil_mode` (opset 10) and
//! `dilations` (opset 10 for MaxPool, 19 for AveragePool) default to off/1 for older
//! opsets. With `ceil_mode`, a last window that would start in the end padding is
//! dropped, as onnxruntime and PyTorch do.

use super::dims;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{Shape, TensorType};

/// What a pooling window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    Max,
    /// Mean; `count_include_pad` divides by the full window size even where it
    /// overlaps padding.
    Avg {
        count_include_pad: bool,
    },
}

/// Windowed pooling over `k` spatial dims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: Vec<u64>,
    pub strides: Vec<u64>,
    /// Begin pads, then end pads (`2k` entries).
    pub pads: Vec<u64>,
    pub dilations: Vec<u64>,
    pub ceil_mode: bool,
}

impl Pool {
    pub(crate) fn attrs(&self) -> String {
        let extra = match self.kind {
            PoolKind::Avg { count_include_pad } => {
                format!(" count_include_pad={count_include_pad}")
            }
            PoolKind::Max => String::new(),
        };
        format!(
            "kernel={:?} strides={:?} pads={:?} dilations={:?} ceil_mode={}{extra}",
            self.kernel, self.strides, self.pads, self.dilations, self.ceil_mode
        )
    }

    /// Output spatial size for spatial dim `i` of an input of size `input`.
    pub fn output_size(&self, i: usize, input: u64) -> OpResult<u64> {
        let k = self.kernel.len();
        let (pb, pe) = (self.pads[i], self.pads[k + i]);
        let padded = input + pb + pe;
        let span = self.dilations[i] * (self.kernel[i] - 1) + 1;
        let s = self.strides[i];
        if s == 0 || padded < span {
            return shape_err(format!(
                "spatial dim {i}: window {span} is larger than the padded input {padded}"
            ));
        }
        let mut out = if self.ceil_mode {
            (padded - span).div_ceil(s) + 1
        } else {
            (padded - span) / s + 1
        };
        if self.ceil_mode && (out - 1) * s >= input + pb {
            out -= 1;
        }
        Ok(out)
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        let k = self.kernel.len();
        if xd.len() != k + 2 {
            return shape_err(format!(
                "input rank {} does not match a {k}-d kernel",
                xd.len()
            ));
        }
        super::conv::check_window(&self.kernel, &self.strides, &self.pads, &self.dilations)?;
        for i in 0..k {
            if self.pads[i] >= self.kernel[i] * self.dilations[i]
                || self.pads[k + i] >= self.kernel[i] * self.dilations[i]
            {
                return Err(OpError::Attribute(format!(
                    "pad {:?} must be smaller than the kernel {:?}",
                    self.pads, self.kernel
                )));
            }
        }
        let mut out = vec![xd[0], xd[1]];
        for i in 0..k {
            out.push(self.output_size(i, xd[2 + i])?);
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }
}

/// Pooling over all spatial positions; the output keeps the rank with spatial dims 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalPool {
    pub kind: PoolKind,
}

impl GlobalPool {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if xd.len() < 3 {
            return shape_err(format!("input rank {} is below 3", xd.len()));
        }
        let mut out = xd.clone();
        for d in &mut out[2..] {
            *d = 1;
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_mode_drops_window_starting_in_padding() {
        let p = Pool {
            kind: PoolKind::Max,
            kernel: vec![3],
            strides: vec![2],
            pads: vec![0, 0],
            dilations: vec![1],
            ceil_mode: true,
        };
        // (6-3)/2 ceil +1 = 3 windows: starts 0,2,4 -> all start inside input.
        assert_eq!(p.output_size(0, 6).unwrap(), 3);
        assert_eq!(p.output_size(0, 5).unwrap(), 2);
    }
}
