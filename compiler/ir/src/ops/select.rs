//! Where: elementwise selection between two tensors by a boolean condition.
//!
//! Spec: <https://onnx.ai/onnx/operators/onnx__Where.html> (opset 9; 16 widened the
//! types). `cond`, `x` and `y` broadcast together numpy-style; the output has `x`'s
//! element type. The ONNX frontend also imports the boolean ops And, Or, Xor and Not as
//! `Where` (and `Equal`) on constant `true`/`false` operands, so no separate logical ops
//! exist in the IR.

use super::elementwise::broadcast_index;
use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use crate::shape::{broadcast_shapes, Shape, TensorType};
use crate::tensor::Tensor;

/// Output type of `Where(cond, x, y)`.
pub(crate) fn infer_where(
    cond: &TensorType,
    x: &TensorType,
    y: &TensorType,
) -> OpResult<TensorType> {
    if cond.dtype != DType::Bool {
        return shape_err(format!("condition must be bool, got {}", cond.dtype));
    }
    if x.dtype != y.dtype {
        return shape_err(format!(
            "the branches have different types {} and {}",
            x.dtype, y.dtype
        ));
    }
    let shape = broadcast_shapes(&[&cond.dims()?, &x.dims()?, &y.dims()?])?;
    Ok(TensorType {
        dtype: x.dtype,
        shape: Shape::fixed(&shape),
    })
}

/// `cond ? x : y` per element of the broadcast shape; copies bytes, so exact for every
/// element type.
pub(crate) fn eval_where(
    cond: &Tensor,
    x: &Tensor,
    y: &Tensor,
    out: &TensorType,
) -> OpResult<Tensor> {
    let od = out.dims()?;
    let ic = broadcast_index(&cond.shape, &od);
    let ix = broadcast_index(&x.shape, &od);
    let iy = broadcast_index(&y.shape, &od);
    let es = x.dtype.size_bytes();
    let (cb, xb, yb) = (cond.bytes(), x.bytes(), y.bytes());
    let mut bytes = Vec::with_capacity(ic.len() * es);
    for ((&c, &i), &j) in ic.iter().zip(&ix).zip(&iy) {
        let (src, k) = if cb[c] != 0 { (xb, i) } else { (yb, j) };
        bytes.extend_from_slice(&src[k * es..(k + 1) * es]);
    }
    Tensor::from_bytes(out.dtype, od, bytes.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(shape: &[u64], v: &[bool]) -> Tensor {
        let b: Vec<u8> = v.iter().map(|&b| u8::from(b)).collect();
        Tensor::from_bytes(DType::Bool, shape.to_vec(), b.into()).unwrap()
    }

    #[test]
    fn three_way_broadcast() {
        let c = bools(&[2, 1], &[true, false]);
        let x = Tensor::from_f32(vec![3], &[1., 2., 3.]);
        let y = Tensor::from_f32(vec![], &[0.]);
        let t = infer_where(
            &TensorType::new(DType::Bool, &c.shape),
            &TensorType::new(DType::F32, &x.shape),
            &TensorType::new(DType::F32, &y.shape),
        )
        .unwrap();
        assert_eq!(t.to_string(), "f32[2,3]");
        let r = eval_where(&c, &x, &y, &t).unwrap();
        assert_eq!(r.to_f32_vec(), vec![1., 2., 3., 0., 0., 0.]);
    }

    #[test]
    fn types_are_checked() {
        let f = TensorType::new(DType::F32, &[2]);
        let b = TensorType::new(DType::Bool, &[2]);
        let i = TensorType::new(DType::I64, &[2]);
        assert!(infer_where(&f, &f, &f).is_err());
        assert!(infer_where(&b, &f, &i).is_err());
        assert!(infer_where(&b, &i, &i).is_ok());
        assert!(infer_where(&b, &f, &TensorType::new(DType::F32, &[3])).is_err());
    }
}
