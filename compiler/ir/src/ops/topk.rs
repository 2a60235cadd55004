//! TopK: the `k` largest (or smallest) elements along one axis, and their indices.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__TopK.html>. Two outputs: the values (the
//! input's dtype) and their `int64` indices, both with the axis cut to `k`. The
//! frontend requires `K` to be a constant. Results are always sorted (best first),
//! which `sorted = 0` allows too; equal values keep their input order (the lower index
//! first), as the spec requires.

use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{Shape, TensorType};
use crate::tensor::Tensor;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopK {
    pub axis: usize,
    pub k: u64,
    /// The largest elements (else the smallest).
    pub largest: bool,
}

impl TopK {
    pub(crate) fn attrs(&self) -> String {
        format!("axis={} k={} largest={}", self.axis, self.k, self.largest)
    }

    /// `(outer, axis, inner)` extents of `d` around the axis.
    pub fn split(&self, d: &[u64]) -> (u64, u64, u64) {
        let outer: u64 = d[..self.axis].iter().product();
        let inner: u64 = d[self.axis + 1..].iter().product();
        (outer, d[self.axis], inner)
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<Vec<TensorType>> {
        let xd = dims(x)?;
        if self.axis >= xd.len() {
            return Err(OpError::Attribute(format!(
                "axis {} is not below the rank {}",
                self.axis,
                xd.len()
            )));
        }
        if self.k > xd[self.axis] {
            return shape_err(format!(
                "k = {} exceeds the axis size {}",
                self.k, xd[self.axis]
            ));
        }
        if x.dtype == DType::Bool {
            return shape_err("TopK is not defined for bool");
        }
        let mut od = xd.clone();
        od[self.axis] = self.k;
        Ok(vec![
            TensorType {
                dtype: x.dtype,
                shape: Shape::fixed(&od),
            },
            TensorType {
                dtype: DType::I64,
                shape: Shape::fixed(&od),
            },
        ])
    }

    /// Reference: a stable sort of each line, best first.
    pub(crate) fn eval(&self, x: &Tensor, out: &[TensorType]) -> OpResult<Vec<Tensor>> {
        let (outer, n, inner) = self.split(&x.shape);
        let (n, inner, k) = (n as usize, inner as usize, self.k as usize);
        let v = x.to_f64_vec();
        let mut vals = vec![0.0; outer as usize * k * inner];
        let mut idx = vec![0i64; vals.len()];
        for o in 0..outer as usize {
            for i in 0..inner {
                let mut order: Vec<usize> = (0..n).collect();
                let at = |j: usize| v[(o * n + j) * inner + i];
                order.sort_by(|&a, &b| {
                    let (x, y) = (at(a), at(b));
                    let c = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                    if self.largest {
                        c.reverse()
                    } else {
                        c
                    }
                });
                for (r, &j) in order.iter().take(k).enumerate() {
                    vals[(o * k + r) * inner + i] = at(j);
                    idx[(o * k + r) * inner + i] = j as i64;
                }
            }
        }
        let od = out[0].dims()?;
        Ok(vec![
            Tensor::from_f64_as(out[0].dtype, od.clone(), &vals),
            Tensor::from_i64(od, &idx),
        ])
    }
}
