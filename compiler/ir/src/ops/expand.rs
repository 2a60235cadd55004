//! Expand: broadcast a tensor to a larger static shape.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Expand.html> (opset 8; 13 widened the
//! types). ONNX's rule is bidirectional: the output shape is the numpy broadcast of the
//! input shape and the requested one, so a requested `1` keeps the input's dim. The
//! ONNX frontend (the shape input must be a constant) resolves that broadcast; here
//! [`Expand::shape`] is the output shape itself, to which the input must broadcast.

use super::dims;
use super::elementwise::broadcast_index;
use crate::error::{shape_err, OpResult};
use crate::shape::{broadcast_shapes, checked_elements, Shape, TensorType};
use crate::tensor::Tensor;

/// Broadcast copy of the input to `shape`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expand {
    pub shape: Vec<u64>,
}

impl Expand {
    pub(crate) fn infer(&self, x: &TensorType) -> OpResult<TensorType> {
        let xd = dims(x)?;
        if checked_elements(&self.shape).is_none() {
            return shape_err(format!("expanded shape {:?} is too large", self.shape));
        }
        if xd.len() > self.shape.len() || broadcast_shapes(&[&xd, &self.shape])? != self.shape {
            return shape_err(format!(
                "{} does not broadcast to {:?}",
                x.shape, self.shape
            ));
        }
        Ok(TensorType {
            dtype: x.dtype,
            shape: Shape::fixed(&self.shape),
        })
    }

    pub(crate) fn eval(&self, x: &Tensor) -> OpResult<Tensor> {
        let es = x.dtype.size_bytes();
        let b = x.bytes();
        let map = broadcast_index(&x.shape, &self.shape);
        let mut out = Vec::with_capacity(map.len() * es);
        for i in map {
            out.extend_from_slice(&b[i * es..(i + 1) * es]);
        }
        Tensor::from_bytes(x.dtype, self.shape.clone(), out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn expands_and_checks() {
        let e = Expand { shape: vec![2, 3] };
        let t = e.infer(&TensorType::new(DType::F32, &[3])).unwrap();
        assert_eq!(t.to_string(), "f32[2,3]");
        let y = e.eval(&Tensor::from_f32(vec![3], &[1., 2., 3.])).unwrap();
        assert_eq!(y.to_f32_vec(), vec![1., 2., 3., 1., 2., 3.]);
        assert!(e.infer(&TensorType::new(DType::F32, &[2])).is_err());
        assert!(e.infer(&TensorType::new(DType::F32, &[2, 1])).is_ok());
        // The input may not be larger than the target.
        assert!(e.infer(&TensorType::new(DType::F32, &[4, 3])).is_err());
        assert!(e.infer(&TensorType::new(DType::F32, &[1, 2, 3])).is_err());
    }
}
