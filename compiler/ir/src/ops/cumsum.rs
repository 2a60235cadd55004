//! Cumulative sum along one axis.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__CumSum.html> (opsets 11, 14). `exclusive`
//! leaves the current element out of its own sum (the first output is 0); `reverse`
//! sums from the end of the axis.

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::{normalize_axis, TensorType};
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CumSum {
    /// A non-negative axis.
    pub axis: usize,
    pub exclusive: bool,
    pub reverse: bool,
}

impl CumSum {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        normalize_axis(self.axis as i64, xd.len())?;
        if x.dtype == crate::DType::Bool {
            return shape_err("CumSum of bool is not supported");
        }
        Ok(x.clone())
    }

    /// Reference evaluation (f64 for floats; integers are exact below 2^53).
    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let xd = &x.shape;
        let len = xd[self.axis] as usize;
        let inner: usize = xd[self.axis + 1..].iter().product::<u64>() as usize;
        let outer: usize = xd[..self.axis].iter().product::<u64>() as usize;
        let xv = x.to_f64_vec();
        let mut y = vec![0f64; xv.len()];
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = 0f64;
                for k in 0..len {
                    let k = if self.reverse { len - 1 - k } else { k };
                    let at = (o * len + k) * inner + i;
                    if self.exclusive {
                        y[at] = acc;
                        acc += xv[at];
                    } else {
                        acc += xv[at];
                        y[at] = acc;
                    }
                }
            }
        }
        Ok(Tensor::from_f64_as(out.dtype, xd.clone(), &y))
    }
}
