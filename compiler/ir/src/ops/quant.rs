//! Integer convolution of quantized tensors: what pre-quantized models (QDQ patterns,
//! QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger) and `--quantize int8` become.
//!
//! `QConv` is ONNX `ConvInteger` with a per-tensor activation zero point, weights
//! without a zero point (symmetric int8), an optional int32 bias added to the
//! accumulator, and the output conversion fused in:
//!
//! ```text
//! acc[n, m, ...] = bias[m] + Σ (x[n, c, ...] − x_zero) · w[m, c, ...]        (int32, exact)
//! out=i32:  y = acc
//! out=f32:  y = f32(acc) · scale[m]                                          (dequantized)
//! out=u8/i8: y = clamp(round_half_even(f32(acc) · scale[m] + r) + y_zero, y_min, y_max)
//!            r = (f32(residual) − res_zero) · res_scale, or 0 without a residual
//! ```
//!
//! Inputs: `x` u8 or i8 `[N, C, S...]`, `w` i8 `[M, C/group, k...]`, `bias` i32 `[M]`
//! (optional), `scale` f32 `[M]` (required unless `out=i32`; for a requantized output it
//! is `x_scale · w_scale[m] / y_scale`), `residual` u8 of the output's shape (optional,
//! requantized outputs only; `res_scale` is its scale over `y_scale`: a residual block's
//! `Q(Relu(DQ(conv) + DQ(skip)))` in one kernel). Padding reads as `x_zero` (a real
//! zero).
//!
//! Dynamically quantized activations (DynamicQuantizeLinear: zero point and scale
//! computed from the tensor at run time) give two more optional inputs: `x_zero` (5),
//! a scalar of `x`'s type that replaces the attribute, and `x_scale` (6), an f32 scalar
//! for `out=f32` only, where then `y = f32(acc) · (x_scale · scale[m])` (the product of
//! the two scales first, onnxruntime's order for `quantize_dynamic` models). A ReLU before the output quantizer is `y_min = y_zero`. Matrix products run as 1×1
//! convolutions over `[M, K, 1, 1]` views (`docs/quantization.md`).

use super::conv::Conv;
use super::dims;
use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use crate::shape::TensorType;
use crate::tensor::Tensor;

/// A quantized convolution: geometry, the activation zero point, the output form.
#[derive(Debug, Clone, PartialEq)]
pub struct QConv {
    pub conv: Conv,
    /// Zero point of the input `x` (a u8 or i8 value).
    pub x_zero: i32,
    /// The output type: `i32` (the accumulator), `f32` (dequantized), `u8` or `i8`
    /// (requantized).
    pub out: DType,
    /// Zero point and clamp range of a requantized output (ignored otherwise).
    pub y_zero: i32,
    pub y_min: i32,
    pub y_max: i32,
    /// Zero point and relative scale of the optional residual input (ignored without).
    pub res_zero: i32,
    pub res_scale: f32,
}

impl QConv {
    pub(crate) fn attrs(&self) -> String {
        format!(
            "x_zero={} out={} y_zero={} y_min={} y_max={} res_zero={} res_scale={:?} {}",
            self.x_zero,
            self.out,
            self.y_zero,
            self.y_min,
            self.y_max,
            self.res_zero,
            self.res_scale,
            self.conv.attrs()
        )
    }

    /// True when the output is quantized (u8 or i8).
    pub fn requantizes(&self) -> bool {
        matches!(self.out, DType::U8 | DType::I8)
    }

    /// Types of inputs 0–6 (`x`, `w`, then the optional ones: `None` when absent).
    pub(crate) fn infer(&self, inputs: &[Option<&TensorType>]) -> OpResult<TensorType> {
        let at = |i: usize| inputs.get(i).copied().flatten();
        let (Some(x), Some(w)) = (at(0), at(1)) else {
            return shape_err("QConv needs x and w");
        };
        let (bias, scale, residual) = (at(2), at(3), at(4));
        self.infer_runtime_quantization(x, at(5), at(6))?;
        if !matches!(x.dtype, DType::U8 | DType::I8) || w.dtype != DType::I8 {
            return shape_err(format!(
                "QConv takes u8 or i8 input and i8 weights, got {} and {}",
                x.dtype, w.dtype
            ));
        }
        if let Some(b) = bias.filter(|b| b.dtype != DType::I32) {
            return shape_err(format!("QConv bias must be i32, got {}", b.dtype));
        }
        let x_range = if x.dtype == DType::U8 {
            0..=255
        } else {
            -128..=127
        };
        if !x_range.contains(&self.x_zero) {
            return shape_err(format!("x_zero {} is not a {} value", self.x_zero, x.dtype));
        }
        let range = match self.out {
            DType::U8 => 0..=255,
            DType::I8 => -128..=127,
            DType::I32 | DType::F32 => 0..=0,
            other => return shape_err(format!("QConv cannot output {other}")),
        };
        if self.requantizes()
            && !(range.contains(&self.y_min)
                && range.contains(&self.y_max)
                && self.y_min <= self.y_max
                && range.contains(&self.y_zero))
        {
            return shape_err(format!(
                "output zero point {} or range {}..={} does not fit {}",
                self.y_zero, self.y_min, self.y_max, self.out
            ));
        }
        let y = self.conv.infer(x, w, bias)?;
        match scale {
            Some(s) if s.dtype != DType::F32 || dims(s)? != [y.dims()?[1]] => {
                return shape_err(format!("QConv scale must be f32 [{}]", y.dims()?[1]))
            }
            None if self.out != DType::I32 => {
                return shape_err(format!("a QConv with {} output needs a scale", self.out))
            }
            _ => {}
        }
        if let Some(r) = residual {
            if r.dtype != DType::U8 || r.shape != y.shape || !self.requantizes() {
                return shape_err(format!(
                    "QConv residual must be u8 of the output's shape {} (and the output \
                     requantized), got {} {}",
                    y.shape, r.dtype, r.shape
                ));
            }
        }
        Ok(TensorType {
            dtype: self.out,
            shape: y.shape,
        })
    }

    /// Checks the run-time zero point (input 5: a scalar of `x`'s type) and scale
    /// (input 6: an f32 scalar, `out=f32` only).
    fn infer_runtime_quantization(
        &self,
        x: &TensorType,
        zero: Option<&TensorType>,
        scale: Option<&TensorType>,
    ) -> OpResult<()> {
        let scalar = |t: &TensorType| Ok::<bool, _>(dims(t)?.iter().product::<u64>() == 1);
        if let Some(z) = zero {
            if z.dtype != x.dtype || !scalar(z)? {
                return shape_err(format!(
                    "QConv's run-time zero point must be a {} scalar, got {} {}",
                    x.dtype, z.dtype, z.shape
                ));
            }
        }
        if let Some(s) = scale {
            if s.dtype != DType::F32 || !scalar(s)? || self.out != DType::F32 {
                return shape_err(format!(
                    "QConv's run-time activation scale must be an f32 scalar, with an f32 \
                     output (got {} {}, output {})",
                    s.dtype, s.shape, self.out
                ));
            }
        }
        Ok(())
    }

    /// Reference: the convolution of the centred operands in f64 (exact: every partial
    /// sum is an integer far below 2^53).
    pub(crate) fn eval(&self, inputs: &[Option<&Tensor>], out: &TensorType) -> OpResult<Tensor> {
        let (Some(Some(x)), Some(Some(w))) = (inputs.first(), inputs.get(1)) else {
            return shape_err("QConv needs x and w");
        };
        let runtime = |i: usize| inputs.get(i).copied().flatten().map(|t| t.to_f64_vec()[0]);
        let zx = runtime(5).unwrap_or(f64::from(self.x_zero));
        let x_scale = runtime(6).map(|s| s as f32);
        let xc: Vec<f64> = x.to_f64_vec().iter().map(|v| v - zx).collect();
        let xc = Tensor::from_f64_as(DType::F64, x.shape.clone(), &xc);
        let wc = Tensor::from_f64_as(DType::F64, w.shape.clone(), &w.to_f64_vec());
        let bc = inputs
            .get(2)
            .copied()
            .flatten()
            .map(|b| Tensor::from_f64_as(DType::F64, b.shape.clone(), &b.to_f64_vec()));
        let acc_ty = TensorType {
            dtype: DType::F64,
            shape: out.shape.clone(),
        };
        let acc =
            crate::reference::conv(&self.conv, &[Some(&xc), Some(&wc), bc.as_ref()], &acc_ty)?;
        let Some(Some(scale)) = inputs.get(3) else {
            return Ok(Tensor::from_f64_as(
                DType::I32,
                acc.shape.clone(),
                &acc.to_f64_vec(),
            ));
        };
        let mut scale = scale.to_f32_vec();
        if let Some(xs) = x_scale {
            scale.iter_mut().for_each(|s| *s *= xs);
        }
        let per = acc.shape[2..].iter().product::<u64>().max(1) as usize;
        let m = scale.len().max(1);
        let res = inputs.get(4).copied().flatten().map(|r| r.to_f64_vec());
        let y: Vec<f64> = acc
            .to_f64_vec()
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let mut v = (a as f32) * scale[(i / per) % m];
                if let Some(r) = &res {
                    v += (r[i] as f32 - self.res_zero as f32) * self.res_scale;
                }
                if !self.requantizes() {
                    return f64::from(v);
                }
                let q = f64::from(v.round_ties_even()) + f64::from(self.y_zero);
                q.clamp(f64::from(self.y_min), f64::from(self.y_max))
            })
            .collect();
        Ok(Tensor::from_f64_as(self.out, acc.shape.clone(), &y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Op;

    /// A run-time zero point replaces the attribute and a run-time activation scale
    /// multiplies the per-channel scale (values worked by hand).
    #[test]
    fn runtime_zero_point_and_scale() {
        let q = QConv {
            conv: Conv {
                kernel: vec![1, 2],
                strides: vec![1, 1],
                pads: vec![0; 4],
                dilations: vec![1, 1],
                group: 1,
            },
            x_zero: 100,
            out: DType::F32,
            y_zero: 0,
            y_min: 0,
            y_max: 0,
            res_zero: 0,
            res_scale: 0.0,
        };
        let x = Tensor::from_f64_as(DType::U8, vec![1, 1, 1, 2], &[5.0, 7.0]);
        let w = Tensor::from_f64_as(DType::I8, vec![1, 1, 1, 2], &[2.0, 1.0]);
        let s = Tensor::from_f32(vec![1], &[0.5]);
        let zx = Tensor::from_f64_as(DType::U8, vec![], &[3.0]);
        let xs = Tensor::from_f32(vec![], &[0.25]);
        let ins = [
            Some(&x),
            Some(&w),
            None,
            Some(&s),
            None,
            Some(&zx),
            Some(&xs),
        ];
        let ty = |t: &Tensor| TensorType::new(t.dtype, &t.shape);
        let types: Vec<Option<TensorType>> = ins.iter().map(|t| t.map(ty)).collect();
        let types: Vec<Option<&TensorType>> = types.iter().map(Option::as_ref).collect();
        let op = Op::QConv(q);
        let out = op.infer(&types).unwrap();
        // acc = (5 − 3)·2 + (7 − 3)·1 = 8; y = 8 · (0.25 · 0.5) = 1.
        let y = op.eval(&ins, &out).unwrap().unwrap();
        assert_eq!(y[0].to_f32_vec(), [1.0]);
        // The run-time scale needs an f32 output.
        let Op::QConv(q) = op else { unreachable!() };
        let i32_out = Op::QConv(QConv {
            out: DType::I32,
            ..q
        });
        assert!(i32_out.infer(&types).is_err());
    }
}
