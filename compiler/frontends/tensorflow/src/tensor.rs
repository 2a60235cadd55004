//! TensorFlow tensors, dtypes and shapes as IR types.
//!
//! A `TensorProto` holds its elements either as raw little-endian bytes
//! (`tensor_content`, kept as a zero-copy slice of the model buffer) or in the typed
//! repeated field of its dtype, where fewer values than elements mean "repeat the last
//! value" (how TF writes `tf.zeros`/`tf.fill` constants compactly). Expanding such a
//! constant is bounded ([`MAX_EXPANDED_BYTES`]) so a tiny file cannot ask for an
//! enormous allocation.

use crate::proto::{dt, TensorProto, TensorShapeProto};
use neoc_ir::{DType, Tensor};

/// Largest constant (bytes) built by repeating a `TensorProto`'s last value.
const MAX_EXPANDED_BYTES: u64 = 1 << 30;

/// The IR dtype of a TF `DataType` (`_REF` types read as their base type).
pub(crate) fn ir_dtype(t: i32) -> Option<DType> {
    let t = if t > dt::REF_OFFSET {
        t - dt::REF_OFFSET
    } else {
        t
    };
    Some(match t {
        dt::FLOAT => DType::F32,
        dt::DOUBLE => DType::F64,
        dt::INT32 => DType::I32,
        dt::UINT8 => DType::U8,
        dt::INT16 => DType::I16,
        dt::INT8 => DType::I8,
        dt::INT64 => DType::I64,
        dt::BOOL => DType::Bool,
        dt::BFLOAT16 => DType::BF16,
        dt::UINT16 => DType::U16,
        dt::HALF => DType::F16,
        dt::UINT32 => DType::U32,
        dt::UINT64 => DType::U64,
        _ => return None,
    })
}

/// The TF name of a `DataType`, for messages.
pub(crate) fn dtype_name(t: i32) -> String {
    match t {
        dt::FLOAT => "float32".into(),
        dt::DOUBLE => "float64".into(),
        dt::INT32 => "int32".into(),
        dt::INT64 => "int64".into(),
        dt::STRING => "string".into(),
        dt::BOOL => "bool".into(),
        dt::RESOURCE => "resource".into(),
        21 => "variant".into(),
        8 | 18 => "complex".into(),
        11..=13 | 15 | 16 => "quantized".into(),
        t => match ir_dtype(t) {
            Some(d) => d.to_string(),
            None => format!("DataType {t}"),
        },
    }
}

/// A declared shape: `None` for unknown rank, `None` dims for unknown sizes.
pub(crate) fn shape_of(s: Option<&TensorShapeProto>) -> Option<Vec<Option<u64>>> {
    let s = s?;
    if s.unknown_rank {
        return None;
    }
    Some(s.dim.iter().map(|d| u64::try_from(d.size).ok()).collect())
}

/// A fully known shape; `Err` names what is wrong.
pub(crate) fn static_shape(s: Option<&TensorShapeProto>) -> Result<Vec<u64>, String> {
    let dims = shape_of(s).ok_or("the shape has unknown rank")?;
    dims.iter()
        .map(|d| d.ok_or_else(|| "the shape has an unknown (-1) dimension".to_string()))
        .collect()
}

/// Decodes a `TensorProto` into an IR constant. `Err` is the reason, for the caller
/// to place at a node.
pub(crate) fn decode(t: &TensorProto) -> Result<Tensor, String> {
    let dtype = ir_dtype(t.dtype)
        .ok_or_else(|| format!("tensors of {} are not supported", dtype_name(t.dtype)))?;
    let shape = static_shape(t.tensor_shape.as_ref()).or_else(|e| {
        // A missing shape means a scalar.
        if t.tensor_shape.is_none() {
            Ok(vec![])
        } else {
            Err(e)
        }
    })?;
    let n = neoc_ir::shape::checked_elements(&shape).ok_or("the tensor is too large")?;
    let size = dtype.size_bytes() as u64;
    if !t.tensor_content.is_empty() {
        return Tensor::from_bytes(dtype, shape, t.tensor_content.clone()).map_err(|_| {
            format!(
                "tensor_content has {} bytes, but {n} elements of {dtype} need {}",
                t.tensor_content.len(),
                n.saturating_mul(size)
            )
        });
    }
    let bytes: Vec<Vec<u8>> = match dtype {
        DType::F32 => t
            .float_val
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect(),
        DType::F64 => t
            .double_val
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect(),
        DType::I32 => t.int_val.iter().map(|v| v.to_le_bytes().to_vec()).collect(),
        DType::I16 => t
            .int_val
            .iter()
            .map(|&v| (v as i16).to_le_bytes().to_vec())
            .collect(),
        DType::I8 => t.int_val.iter().map(|&v| vec![v as i8 as u8]).collect(),
        DType::U8 => t.int_val.iter().map(|&v| vec![v as u8]).collect(),
        DType::U16 => t
            .int_val
            .iter()
            .map(|&v| (v as u16).to_le_bytes().to_vec())
            .collect(),
        DType::I64 => t
            .int64_val
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect(),
        DType::Bool => t.bool_val.iter().map(|&v| vec![u8::from(v)]).collect(),
        DType::F16 | DType::BF16 => t
            .half_val
            .iter()
            .map(|&v| (v as u16).to_le_bytes().to_vec())
            .collect(),
        DType::U32 => t
            .uint32_val
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect(),
        DType::U64 => t
            .uint64_val
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect(),
        _ => return Err(format!("tensors of {dtype} are not supported")),
    };
    if bytes.len() as u64 > n {
        return Err(format!(
            "the tensor lists {} values for {n} elements",
            bytes.len()
        ));
    }
    if n.saturating_mul(size) > MAX_EXPANDED_BYTES {
        return Err(format!(
            "a constant of {n} elements written as {} values is too large to expand",
            bytes.len()
        ));
    }
    let zero = vec![0u8; size as usize];
    let last = bytes.last().cloned().unwrap_or(zero);
    let mut data = Vec::with_capacity((n * size) as usize);
    for i in 0..n as usize {
        data.extend_from_slice(bytes.get(i).unwrap_or(&last));
    }
    Tensor::from_bytes(dtype, shape, data.into()).map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Dim;

    fn shape(d: &[i64]) -> Option<TensorShapeProto> {
        Some(TensorShapeProto {
            dim: d.iter().map(|&size| Dim { size }).collect(),
            unknown_rank: false,
        })
    }

    #[test]
    fn repeated_last_value_and_content() {
        let t = TensorProto {
            dtype: dt::FLOAT,
            tensor_shape: shape(&[2, 2]),
            float_val: vec![1.0, 2.0],
            ..Default::default()
        };
        assert_eq!(decode(&t).unwrap().to_f32_vec(), vec![1.0, 2.0, 2.0, 2.0]);
        let t = TensorProto {
            dtype: dt::INT32,
            tensor_shape: shape(&[3]),
            ..Default::default()
        };
        assert_eq!(decode(&t).unwrap().to_i64_vec(), vec![0, 0, 0]);
        let t = TensorProto {
            dtype: dt::INT64,
            tensor_shape: shape(&[2]),
            tensor_content: bytes::Bytes::from_static(&[1, 0, 0, 0, 0, 0, 0, 0, 2]),
            ..Default::default()
        };
        assert!(decode(&t).is_err());
    }

    #[test]
    fn refuses_huge_splats_and_strings() {
        let t = TensorProto {
            dtype: dt::FLOAT,
            tensor_shape: shape(&[1 << 20, 1 << 20]),
            float_val: vec![1.0],
            ..Default::default()
        };
        assert!(decode(&t).unwrap_err().contains("too large"));
        let t = TensorProto {
            dtype: dt::STRING,
            ..Default::default()
        };
        assert!(decode(&t).unwrap_err().contains("string"));
    }
}
