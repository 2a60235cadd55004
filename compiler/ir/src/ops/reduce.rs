//! The Reduce family: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
//! ReduceSumSquare, ReduceL1, ReduceL2 and ReduceLogSum over a set of axes.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__ReduceSum.html> and its siblings. `axes`
//! is an attribute before opset 13 (ReduceSum) or 18 (the others) and an optional input
//! (which must be constant) from then on, with `noop_with_empty_axes`. The ONNX frontend
//! resolves all forms: here `axes` are sorted, distinct and non-negative, and empty means
//! every axis (the frontend imports a no-op reduction as Identity). ReduceLogSumExp is
//! desugared by the frontend (max, then log-sum of the shifted exponentials).
//!
//! Reducing an empty set gives the identity of the reduction (0, 1, `-inf` for Max,
//! `+inf` for Min; integer Max/Min give the type's extreme value), Mean of nothing is NaN.
//! Max and Min propagate NaN.

use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpError, OpResult};
use crate::shape::{strides, Shape, TensorType};
use crate::tensor::Tensor;

/// What a reduction computes over the reduced elements `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReduceKind {
    /// `sum x`
    Sum,
    /// `sum x / n` (integer division truncates)
    Mean,
    /// NaN-propagating maximum.
    Max,
    /// NaN-propagating minimum.
    Min,
    /// `prod x`
    Prod,
    /// `sum x^2`
    SumSquare,
    /// `sum |x|`
    L1,
    /// `sqrt(sum x^2)` (floats only)
    L2,
    /// `log(sum x)` (floats only)
    LogSum,
}

impl ReduceKind {
    /// Every kind.
    pub const ALL: [ReduceKind; 9] = [
        ReduceKind::Sum,
        ReduceKind::Mean,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::Prod,
        ReduceKind::SumSquare,
        ReduceKind::L1,
        ReduceKind::L2,
        ReduceKind::LogSum,
    ];

    /// The ONNX (and text IR) op name.
    pub fn name(self) -> &'static str {
        match self {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::SumSquare => "ReduceSumSquare",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::LogSum => "ReduceLogSum",
        }
    }

    pub fn from_name(s: &str) -> Option<ReduceKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// True when the result needs a float type (a square root or logarithm).
    pub fn float_only(self) -> bool {
        matches!(self, ReduceKind::L2 | ReduceKind::LogSum)
    }

    /// The accumulator's starting value, in `f64` (`±inf` for Max/Min; code generation
    /// replaces them by the integer type's extremes).
    pub fn init(self) -> f64 {
        match self {
            ReduceKind::Prod => 1.0,
            ReduceKind::Max => f64::NEG_INFINITY,
            ReduceKind::Min => f64::INFINITY,
            _ => 0.0,
        }
    }

    /// One accumulation step in `f64`.
    pub fn step(self, acc: f64, x: f64) -> f64 {
        match self {
            ReduceKind::Sum | ReduceKind::Mean | ReduceKind::LogSum => acc + x,
            ReduceKind::SumSquare | ReduceKind::L2 => acc + x * x,
            ReduceKind::L1 => acc + x.abs(),
            ReduceKind::Prod => acc * x,
            ReduceKind::Max if acc.is_nan() || x.is_nan() => f64::NAN,
            ReduceKind::Min if acc.is_nan() || x.is_nan() => f64::NAN,
            ReduceKind::Max => acc.max(x),
            ReduceKind::Min => acc.min(x),
        }
    }

    /// The result from the accumulator after `n` elements (`int`: integer element type).
    pub fn finish(self, acc: f64, n: u64, int: bool) -> f64 {
        match self {
            ReduceKind::Mean if int => {
                if n == 0 {
                    0.0
                } else {
                    (acc / n as f64).trunc()
                }
            }
            ReduceKind::Mean => acc / n as f64,
            ReduceKind::L2 => acc.sqrt(),
            ReduceKind::LogSum => acc.ln(),
            _ => acc,
        }
    }
}

/// A reduction over `axes` (sorted, distinct, non-negative; empty: all axes). With
/// `keepdims` the reduced axes stay as size 1, otherwise they are removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axes: Vec<usize>,
    pub keepdims: bool,
}

impl Reduce {
    pub(crate) fn attrs(&self) -> String {
        format!("axes={:?} keepdims={}", self.axes, self.keepdims)
    }

    /// For each input axis, whether it is reduced.
    pub fn reduced_mask(&self, rank: usize) -> Vec<bool> {
        (0..rank)
            .map(|i| self.axes.is_empty() || self.axes.contains(&i))
            .collect()
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if self.axes.windows(2).any(|w| w[0] >= w[1])
            || self.axes.last().is_some_and(|&a| a >= xd.len())
        {
            return Err(OpError::Attribute(format!(
                "axes {:?} must be sorted, distinct and below the rank {}",
                self.axes,
                xd.len()
            )));
        }
        if x.dtype == DType::Bool || self.kind.float_only() && !x.dtype.is_float() {
            return shape_err(format!(
                "{} of {} is not supported yet",
                self.kind.name(),
                x.dtype
            ));
        }
        let mask = self.reduced_mask(xd.len());
        let out: Vec<u64> = xd
            .iter()
            .zip(&mask)
            .filter_map(|(&d, &r)| match (r, self.keepdims) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&out),
        })
    }

    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let mask = self.reduced_mask(x.shape.len());
        // Output dims with the reduced axes kept as 1, so input and output coordinates
        // line up axis by axis.
        let kept: Vec<u64> = x
            .shape
            .iter()
            .zip(&mask)
            .map(|(&d, &r)| if r { 1 } else { d })
            .collect();
        let ks = strides(&kept);
        let xs = strides(&x.shape);
        let n_out: u64 = kept.iter().product();
        let n_red: u64 = x
            .shape
            .iter()
            .zip(&mask)
            .filter(|(_, &r)| r)
            .map(|(&d, _)| d)
            .product();
        let mut acc = vec![self.kind.init(); n_out as usize];
        for (flat, v) in x.to_f64_vec().into_iter().enumerate() {
            let mut o = 0u64;
            for i in 0..x.shape.len() {
                if !mask[i] {
                    o += (flat as u64 / xs[i]) % x.shape[i] * ks[i];
                }
            }
            let a = &mut acc[o as usize];
            *a = self.kind.step(*a, v);
        }
        let int = x.dtype.is_int();
        let v: Vec<f64> = acc
            .into_iter()
            .map(|a| self.kind.finish(a, n_red, int))
            .collect();
        Ok(Tensor::from_f64_as(out.dtype, out.dims()?, &v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(kind: ReduceKind, axes: &[usize], keepdims: bool) -> Reduce {
        Reduce {
            kind,
            axes: axes.to_vec(),
            keepdims,
        }
    }

    fn run(r: &Reduce, shape: &[u64], v: &[f32]) -> (String, Vec<f32>) {
        let t = r.infer(&TensorType::new(DType::F32, shape)).unwrap();
        let y = r.eval(&Tensor::from_f32(shape.to_vec(), v), &t).unwrap();
        (t.to_string(), y.to_f32_vec())
    }

    const X: [f32; 6] = [1., 2., 3., 4., 5., 6.];

    #[test]
    fn shapes_follow_axes_and_keepdims() {
        let t = TensorType::new(DType::F32, &[2, 3, 4]);
        let s = |r: Reduce| r.infer(&t).unwrap().to_string();
        assert_eq!(s(reduce(ReduceKind::Sum, &[1], true)), "f32[2,1,4]");
        assert_eq!(s(reduce(ReduceKind::Sum, &[0, 2], false)), "f32[3]");
        assert_eq!(s(reduce(ReduceKind::Sum, &[], false)), "f32[]");
        assert_eq!(s(reduce(ReduceKind::Sum, &[], true)), "f32[1,1,1]");
        assert!(reduce(ReduceKind::Sum, &[3], true).infer(&t).is_err());
        assert!(reduce(ReduceKind::Sum, &[1, 0], true).infer(&t).is_err());
        let i = TensorType::new(DType::I32, &[2]);
        assert!(reduce(ReduceKind::L2, &[], true).infer(&i).is_err());
        assert!(reduce(ReduceKind::Max, &[], true).infer(&i).is_ok());
    }

    #[test]
    fn kinds_evaluate() {
        let r = |k, axes: &[usize]| run(&reduce(k, axes, false), &[2, 3], &X).1;
        assert_eq!(r(ReduceKind::Sum, &[1]), vec![6., 15.]);
        assert_eq!(r(ReduceKind::Mean, &[0]), vec![2.5, 3.5, 4.5]);
        assert_eq!(r(ReduceKind::Max, &[]), vec![6.]);
        assert_eq!(r(ReduceKind::Min, &[1]), vec![1., 4.]);
        assert_eq!(r(ReduceKind::Prod, &[0]), vec![4., 10., 18.]);
        assert_eq!(r(ReduceKind::SumSquare, &[1]), vec![14., 77.]);
        assert_eq!(r(ReduceKind::L1, &[1]), vec![6., 15.]);
        assert_eq!(r(ReduceKind::L2, &[1]), vec![14f32.sqrt(), 77f32.sqrt()]);
        assert_eq!(r(ReduceKind::LogSum, &[1]), vec![6f32.ln(), 15f32.ln()]);
    }

    #[test]
    fn max_propagates_nan_and_empty_sets_give_identities() {
        let (_, v) = run(&reduce(ReduceKind::Max, &[0], false), &[2], &[f32::NAN, 1.]);
        assert!(v[0].is_nan());
        let (s, v) = run(&reduce(ReduceKind::Sum, &[0], true), &[0, 2], &[]);
        assert_eq!((s.as_str(), v), ("f32[1,2]", vec![0., 0.]));
        let (_, v) = run(&reduce(ReduceKind::Max, &[0], true), &[0, 1], &[]);
        assert_eq!(v, vec![f32::NEG_INFINITY]);
    }

    #[test]
    fn integer_mean_truncates() {
        let r = reduce(ReduceKind::Mean, &[], false);
        let t = r.infer(&TensorType::new(DType::I64, &[2])).unwrap();
        let y = r.eval(&Tensor::from_i64(vec![2], &[3, 4]), &t).unwrap();
        assert_eq!(y.to_i64_vec(), vec![3]);
    }
}
