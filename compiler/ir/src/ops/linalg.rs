//! Matrix products: Gemm and MatMul.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Gemm.html> (C optional since opset 11;
//! unidirectional broadcast of C since opset 7) and
//! <https://onnx.ai/onnx/operators/onnx__MatMul.html> (numpy `matmul` semantics).

use super::dims;
use crate::error::{shape_err, OpResult};
use crate::shape::{broadcast_shapes, Shape, TensorType};

/// `Y = alpha * op(A) @ op(B) + beta * C`, where `op` transposes when asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Gemm {
    pub(crate) fn infer(
        &self,
        a: &TensorType,
        b: &TensorType,
        c: Option<&TensorType>,
    ) -> OpResult<TensorType> {
        let (ad, bd) = (dims(a)?, dims(b)?);
        if ad.len() != 2 || bd.len() != 2 {
            return shape_err(format!(
                "A and B must be matrices, got {} and {}",
                a.shape, b.shape
            ));
        }
        let (m, k) = if self.trans_a {
            (ad[1], ad[0])
        } else {
            (ad[0], ad[1])
        };
        let (k2, n) = if self.trans_b {
            (bd[1], bd[0])
        } else {
            (bd[0], bd[1])
        };
        if k != k2 {
            return shape_err(format!(
                "inner dimensions differ: A gives K={k}, B gives K={k2}"
            ));
        }
        if let Some(c) = c {
            let cd = dims(c)?;
            let bc = broadcast_shapes(&[&cd, &[m, n]])?;
            if bc != [m, n] {
                return shape_err(format!("C {} does not broadcast to [{m},{n}]", c.shape));
            }
        }
        Ok(TensorType {
            dtype: a.dtype,
            shape: Shape::fixed(&[m, n]),
        })
    }
}

/// Output type of numpy-style matmul.
pub(crate) fn infer_matmul(a: &TensorType, b: &TensorType) -> OpResult<TensorType> {
    let (ad, bd) = (dims(a)?, dims(b)?);
    Ok(TensorType {
        dtype: a.dtype,
        shape: Shape::fixed(&matmul_shape(&ad, &bd)?),
    })
}

/// The output shape of `matmul(a, b)`: 1-D operands are promoted (and the added dim
/// dropped again), leading dims broadcast.
pub fn matmul_shape(a: &[u64], b: &[u64]) -> OpResult<Vec<u64>> {
    if a.is_empty() || b.is_empty() {
        return shape_err("MatMul operands must have rank >= 1");
    }
    let a2: Vec<u64> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<u64> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return shape_err(format!(
            "inner dimensions differ: {a:?} @ {b:?} (K={k} vs {k2})"
        ));
    }
    let batch = broadcast_shapes(&[&a2[..a2.len() - 2], &b2[..b2.len() - 2]])?;
    let mut out = batch;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_shapes() {
        assert_eq!(
            matmul_shape(&[2, 3, 5, 7], &[7, 4]).unwrap(),
            vec![2, 3, 5, 4]
        );
        assert_eq!(matmul_shape(&[7], &[3, 7, 4]).unwrap(), vec![3, 4]);
        assert_eq!(matmul_shape(&[5, 7], &[7]).unwrap(), vec![5]);
        assert!(matmul_shape(&[5, 7], &[6, 2]).is_err());
    }
}
