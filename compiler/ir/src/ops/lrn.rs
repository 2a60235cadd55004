//! Local response normalization across channels (AlexNet, GoogLeNet, ZFNet).
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__LRN.html> (opsets 1 and 13, which differ
//! only in the types allowed). For `x` of shape `[N, C, D1, …]`:
//! `y[n,c,…] = x[n,c,…] / (bias + alpha / size · Σ x[n,c',…]²)^beta` with `c'` over the
//! channels `c − ⌊(size−1)/2⌋ ..= c + ⌈(size−1)/2⌉` that exist.

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::TensorType;
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lrn {
    /// Channels in the window (≥ 1).
    pub size: u64,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

impl Lrn {
    /// Channels before and after `c` in its window.
    pub fn window(&self) -> (u64, u64) {
        let before = (self.size - 1) / 2;
        (before, self.size - 1 - before)
    }

    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if xd.len() < 2 {
            return shape_err(format!("LRN needs [N, C, ...], got rank {}", xd.len()));
        }
        if !x.dtype.is_float() {
            return shape_err(format!("LRN is not defined for {}", x.dtype));
        }
        if self.size == 0 {
            return shape_err("LRN size must be at least 1");
        }
        Ok(x.clone())
    }

    /// Reference evaluation in f64.
    pub(crate) fn eval(&self, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
        let xd = &x.shape;
        let (n, c) = (xd[0] as usize, xd[1] as usize);
        let inner: usize = xd[2..].iter().product::<u64>() as usize;
        let xv = x.to_f64_vec();
        let (before, after) = self.window();
        let scale = f64::from(self.alpha) / self.size as f64;
        let mut y = vec![0f64; xv.len()];
        for img in 0..n {
            for ch in 0..c {
                let lo = ch.saturating_sub(before as usize);
                let hi = (ch + after as usize).min(c - 1);
                for s in 0..inner {
                    let at = |k: usize| xv[(img * c + k) * inner + s];
                    let sum: f64 = (lo..=hi).map(|k| at(k) * at(k)).sum();
                    let d = (f64::from(self.bias) + scale * sum).powf(f64::from(self.beta));
                    y[(img * c + ch) * inner + s] = at(ch) / d;
                }
            }
        }
        Ok(Tensor::from_f64_as(out.dtype, xd.clone(), &y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn window_is_asymmetric_for_even_sizes() {
        let l = |size| Lrn {
            size,
            alpha: 1e-4,
            beta: 0.75,
            bias: 1.0,
        };
        assert_eq!(l(5).window(), (2, 2));
        assert_eq!(l(4).window(), (1, 2));
        assert_eq!(l(1).window(), (0, 0));
        assert!(l(0)
            .infer(&TensorType::new(DType::F32, &[1, 3, 2]))
            .is_err());
        assert!(l(3).infer(&TensorType::new(DType::F32, &[3])).is_err());
    }

    #[test]
    fn one_channel_window_of_one_is_x_over_a_power() {
        let l = Lrn {
            size: 1,
            alpha: 2.0,
            beta: 0.5,
            bias: 1.0,
        };
        let x = Tensor::from_f32(vec![1, 1, 2], &[3.0, -4.0]);
        let y = l
            .eval(&x, &TensorType::new(DType::F32, &[1, 1, 2]))
            .unwrap();
        // 3 / sqrt(1 + 2·9) and -4 / sqrt(1 + 2·16)
        let v = y.to_f64_vec();
        assert!((v[0] - 3.0 / 19f64.sqrt()).abs() < 1e-6);
        assert!((v[1] + 4.0 / 33f64.sqrt()).abs() < 1e-6);
    }
}
