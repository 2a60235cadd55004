//! ArgMax and ArgMin: the index of the largest (smallest) element along one axis.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__ArgMax.html>. Opset notes: negative
//! `axis` from 11 (the frontend resolves it), `select_last_index` from 12 (before it,
//! the first index wins). The output is `int64`; with `keepdims` the axis stays as
//! size 1, otherwise it is removed.
//!
//! Ties go to the first index, or the last with `last`. NaN elements never compare
//! greater or smaller, so they are never selected unless the first element is NaN.

use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{Shape, TensorType};
use crate::tensor::Tensor;

/// ArgMax (`max`) or ArgMin over `axis` (non-negative, below the rank).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArgReduce {
    pub max: bool,
    pub axis: usize,
    pub keepdims: bool,
    /// On ties, select the last index instead of the first.
    pub last: bool,
}

impl ArgReduce {
    pub fn name(&self) -> &'static str {
        if self.max {
            "ArgMax"
        } else {
            "ArgMin"
        }
    }

    pub(crate) fn attrs(&self) -> String {
        format!(
            "axis={} keepdims={} last={}",
            self.axis, self.keepdims, self.last
        )
    }

    /// `(outer, axis, inner)` extents of `dims` around the axis.
    pub fn split(&self, d: &[u64]) -> (u64, u64, u64) {
        let outer: u64 = d[..self.axis].iter().product();
        let inner: u64 = d[self.axis + 1..].iter().product();
        (outer, d[self.axis], inner)
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if self.axis >= xd.len() {
            return Err(OpError::Attribute(format!(
                "axis {} is not below the rank {}",
                self.axis,
                xd.len()
            )));
        }
        if x.dtype == DType::Bool {
            return shape_err(format!("{} is not defined for bool", self.name()));
        }
        if xd[self.axis] == 0 {
            return shape_err(format!("{} over an empty axis", self.name()));
        }
        let mut out = xd;
        if self.keepdims {
            out[self.axis] = 1;
        } else {
            out.remove(self.axis);
        }
        Ok(TensorType {
            dtype: DType::I64,
            shape: Shape::fixed(&out),
        })
    }

    /// True when `v` replaces the current best `best`.
    pub fn better(&self, v: f64, best: f64) -> bool {
        match (self.max, self.last) {
            (true, false) => v > best,
            (true, true) => v >= best,
            (false, false) => v < best,
            (false, true) => v <= best,
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let (outer, n, inner) = self.split(&x.shape);
        let v = x.to_f64_vec();
        let mut res = Vec::with_capacity((outer * inner) as usize);
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: u64| v[(o * n * inner + k * inner + i) as usize];
                let (mut best, mut idx) = (at(0), 0u64);
                for k in 1..n {
                    if self.better(at(k), best) {
                        (best, idx) = (at(k), k);
                    }
                }
                res.push(idx as f64);
            }
        }
        Ok(Tensor::from_f64_as(DType::I64, out.dims()?, &res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &ArgReduce, shape: &[u64], v: &[f32]) -> (String, Vec<i64>) {
        let t = a.infer(&TensorType::new(DType::F32, shape)).unwrap();
        let y = a.eval(&Tensor::from_f32(shape.to_vec(), v), &t).unwrap();
        (t.to_string(), y.to_i64_vec())
    }

    #[test]
    fn shapes_and_ties() {
        let a = |max, axis, keepdims, last| ArgReduce {
            max,
            axis,
            keepdims,
            last,
        };
        let x = [1., 3., 3., 0., 0., 2.];
        assert_eq!(
            run(&a(true, 1, true, false), &[2, 3], &x),
            ("i64[2,1]".to_string(), vec![1, 2])
        );
        assert_eq!(run(&a(true, 1, false, true), &[2, 3], &x).1, vec![2, 2]);
        assert_eq!(run(&a(false, 1, false, false), &[2, 3], &x).1, vec![0, 0]);
        assert_eq!(run(&a(false, 1, false, true), &[2, 3], &x).1, vec![0, 1]);
        assert_eq!(
            run(&a(true, 0, false, false), &[2, 3], &x),
            ("i64[3]".to_string(), vec![0, 0, 0])
        );
        let t = TensorType::new(DType::F32, &[2]);
        assert!(a(true, 1, true, false).infer(&t).is_err());
    }
}
