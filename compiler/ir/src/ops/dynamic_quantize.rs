//! DynamicQuantizeLinear: a float tensor to u8 with a scale and zero point computed from
//! its own range, as one op (one kernel: a min/max pass, then the quantizing pass).
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__DynamicQuantizeLinear.html> (opset 11,
//! unchanged since). In f32, in onnxruntime's order:
//!
//! ```text
//! lo = min(0, min x)    hi = max(0, max x)
//! scale = (hi − lo) / 255                     1 when hi = lo (x all zeros)
//! zero  = round_half_even(clamp(0 − lo / scale, 0, 255))
//! y     = clamp(round_half_even(x / scale) + zero, 0, 255)
//! ```
//!
//! Outputs: `y` u8 of `x`'s shape, `scale` f32 `[]`, `zero` u8 `[]`. The spec's formula
//! divides by zero for an all-zero `x`; the scale of 1 there is onnxruntime's choice
//! (every output is then 0, as the zero point is). `quantize_dynamic` models feed `y`
//! and `zero` to MatMulInteger / ConvInteger and `scale` to the dequantizing Mul
//! (`docs/quantization.md`).

use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use crate::shape::TensorType;
use crate::tensor::Tensor;

pub(crate) fn infer(x: &TensorType) -> OpResult<Vec<TensorType>> {
    if x.dtype != DType::F32 {
        return shape_err(format!(
            "DynamicQuantizeLinear takes float32, got {}",
            x.dtype
        ));
    }
    dims(x)?;
    Ok(vec![
        TensorType {
            dtype: DType::U8,
            shape: x.shape.clone(),
        },
        TensorType::new(DType::F32, &[]),
        TensorType::new(DType::U8, &[]),
    ])
}

/// Scale and zero point (as f32) of a tensor whose range, widened to contain 0, is
/// `lo..=hi`.
pub fn parameters(lo: f32, hi: f32) -> (f32, f32) {
    let scale = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
    let zero = (0.0 - lo / scale).clamp(0.0, 255.0).round_ties_even();
    (scale, zero)
}

/// `clamp(round_half_even(v / scale) + zero, 0, 255)`.
pub fn quantize(v: f32, scale: f32, zero: f32) -> f32 {
    ((v / scale).round_ties_even() + zero).clamp(0.0, 255.0)
}

pub(crate) fn eval(x: &Tensor) -> OpResult<Vec<Tensor>> {
    let v = x.to_f32_vec();
    let lo = v.iter().copied().fold(0.0f32, f32::min);
    let hi = v.iter().copied().fold(0.0f32, f32::max);
    let (scale, zero) = parameters(lo, hi);
    let y: Vec<f64> = v
        .iter()
        .map(|&e| f64::from(quantize(e, scale, zero)))
        .collect();
    Ok(vec![
        Tensor::from_f64_as(DType::U8, x.shape.clone(), &y),
        Tensor::from_f32(vec![], &[scale]),
        Tensor::from_f64_as(DType::U8, vec![], &[f64::from(zero)]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values worked by hand from the spec's formulas (its example input included).
    #[test]
    fn spec_example_and_edges() {
        let x = Tensor::from_f32(vec![6], &[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
        let out = eval(&x).unwrap();
        // The spec's example: scale 5 / 255, zero point 153.
        assert_eq!(out[1].to_f32_vec(), [5.0 / 255.0]);
        assert_eq!(out[2].to_f64_vec(), [153.0]);
        assert_eq!(out[0].to_f64_vec(), [153.0, 255.0, 0.0, 26.0, 221.0, 179.0]);
        // All zeros: scale 1, zero point 0 (onnxruntime), not a division by zero.
        let z = eval(&Tensor::from_f32(vec![3], &[0.0; 3])).unwrap();
        assert_eq!(z[1].to_f32_vec(), [1.0]);
        assert_eq!(z[0].to_f64_vec(), [0.0; 3]);
        // Positive only: the range still starts at 0.
        let p = eval(&Tensor::from_f32(vec![2], &[1.0, 2.55])).unwrap();
        assert_eq!(p[2].to_f64_vec(), [0.0]);
        assert_eq!(p[0].to_f64_vec(), [100.0, 255.0]);
    }
}
