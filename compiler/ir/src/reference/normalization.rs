//! Inference batch normalisation and (log-)softmax.

use crate::error::{shape_err, OpResult};
use crate::ops::{BatchNorm, Softmax};
use crate::shape::TensorType;
use crate::tensor::Tensor;

/// `(x - mean) / sqrt(var + epsilon) * scale + bias` per channel (axis 1); `inputs` are
/// `x, scale, bias, mean, var`.
pub fn batch_norm(bn: &BatchNorm, inputs: &[&Tensor], out: &TensorType) -> OpResult<Tensor> {
    let [x, scale, bias, mean, var] = inputs else {
        return shape_err("BatchNormalization needs 5 inputs");
    };
    if x.shape.len() < 2 {
        return shape_err("input must have a channel dimension");
    }
    let c = x.shape[1] as usize;
    let inner: usize = x.shape[2..].iter().product::<u64>() as usize;
    let [s, b, m, v] = [scale, bias, mean, var].map(|t| t.to_f64_vec());
    if [&s, &b, &m, &v].iter().any(|p| p.len() != c) {
        return shape_err(format!("statistics do not have {c} channels"));
    }
    let eps = f64::from(bn.epsilon);
    let y: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .enumerate()
        .map(|(i, &xv)| {
            let ch = (i / inner.max(1)) % c;
            (xv - m[ch]) / (v[ch] + eps).sqrt() * s[ch] + b[ch]
        })
        .collect();
    Ok(Tensor::from_f64_as(out.dtype, x.shape.clone(), &y))
}

/// Softmax (or log-softmax) along `axis`, computed as `exp(x - max) / sum`.
pub fn softmax(sm: &Softmax, x: &Tensor, out: &TensorType) -> OpResult<Tensor> {
    if sm.axis >= x.shape.len() {
        return shape_err(format!(
            "axis {} is out of range for shape {:?}",
            sm.axis, x.shape
        ));
    }
    let len = x.shape[sm.axis] as usize;
    let inner: usize = x.shape[sm.axis + 1..].iter().product::<u64>() as usize;
    let outer: usize = x.shape[..sm.axis].iter().product::<u64>() as usize;
    let mut y = x.to_f64_vec();
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len).map(|j| y[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..len).map(|j| (y[at(j)] - max).exp()).sum();
            for j in 0..len {
                let z = y[at(j)] - max;
                y[at(j)] = if sm.log { z - sum.ln() } else { z.exp() / sum };
            }
        }
    }
    Ok(Tensor::from_f64_as(out.dtype, x.shape.clone(), &y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn softmax_along_middle_axis() {
        let x = Tensor::from_f32(vec![1, 2, 2], &[0.0, 1.0, 0.0, 3.0]);
        let out = TensorType::new(DType::F32, &[1, 2, 2]);
        let sm = Softmax {
            axis: 1,
            log: false,
        };
        let y = softmax(&sm, &x, &out).unwrap().to_f32_vec();
        let e2 = 1.0 / (1.0 + (2.0f32).exp());
        assert_eq!(y[0], 0.5);
        assert!((y[1] - e2).abs() < 1e-7 && (y[3] - (1.0 - e2)).abs() < 1e-7);
        let sm = Softmax { axis: 1, log: true };
        let ly = softmax(&sm, &x, &out).unwrap().to_f32_vec();
        assert!((ly[1] - e2.ln()).abs() < 1e-6);
    }

    #[test]
    fn batch_norm_per_channel() {
        let x = Tensor::from_f32(vec![1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let t = |v: [f32; 2]| Tensor::from_f32(vec![2], &v);
        let (s, b, m, v) = (t([2.0, 1.0]), t([0.0, 1.0]), t([1.0, 3.0]), t([4.0, 1.0]));
        let bn = BatchNorm { epsilon: 0.0 };
        let out = TensorType::new(DType::F32, &[1, 2, 2]);
        let y = batch_norm(&bn, &[&x, &s, &b, &m, &v], &out).unwrap();
        assert_eq!(y.to_f32_vec(), vec![0.0, 1.0, 1.0, 2.0]);
    }
}
