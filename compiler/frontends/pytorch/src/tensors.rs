//! Torch element types and tensor data: storage class names, the two integer dtype
//! encodings, and turning a strided view of a storage into an IR constant.
//!
//! Why two encodings: TorchScript code and pickles use c10's `ScalarType` numbers
//! (`dtype=6` is float32), torch.export's JSON its own schema enum (`7` is float32).
//! Both end here, so builders only see IR dtypes.
//!
//! A contiguous tensor's data stays a slice of its storage entry (and so of the mapped
//! file); a strided one (a transposed or expanded view saved as such) is gathered into a
//! new buffer, whose size is bounded by the tensor's element count.

use crate::pickle::TensorMeta;
use bytes::Bytes;
use neoc_ir::{DType, Tensor};

/// The dtype of a legacy typed storage class `torch.<Name>Storage`.
pub(crate) fn storage_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "Float" => DType::F32,
        "Double" => DType::F64,
        "Half" => DType::F16,
        "BFloat16" => DType::BF16,
        "Long" => DType::I64,
        "Int" => DType::I32,
        "Short" => DType::I16,
        "Char" => DType::I8,
        "Byte" => DType::U8,
        "Bool" => DType::Bool,
        _ => return None,
    })
}

/// The dtype of a `torch.<name>` dtype object (`torch.float32`, `torch.long`, ...).
pub(crate) fn dtype_by_name(name: &str) -> Option<DType> {
    Some(match name {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "bool" => DType::Bool,
        _ => return None,
    })
}

/// A c10 `ScalarType` number (TorchScript's `dtype=6`).
pub(crate) fn dtype_from_c10(code: i64) -> Option<DType> {
    Some(match code {
        0 => DType::U8,
        1 => DType::I8,
        2 => DType::I16,
        3 => DType::I32,
        4 => DType::I64,
        5 => DType::F16,
        6 => DType::F32,
        7 => DType::F64,
        11 => DType::Bool,
        15 => DType::BF16,
        _ => return None,
    })
}

/// The c10 `ScalarType` number of an IR dtype (what `prim::dtype` returns).
pub(crate) fn c10_code(d: DType) -> Option<i64> {
    (0..16).find(|&c| dtype_from_c10(c) == Some(d))
}

/// A torch.export schema `ScalarType` number (`as_scalar_type`, `tensor_values.dtype`).
pub(crate) fn dtype_from_export(code: i64) -> Option<DType> {
    Some(match code {
        1 => DType::U8,
        2 => DType::I8,
        3 => DType::I16,
        4 => DType::I32,
        5 => DType::I64,
        6 => DType::F16,
        7 => DType::F32,
        8 => DType::F64,
        12 => DType::Bool,
        13 => DType::BF16,
        _ => return None,
    })
}

/// The most bytes a strided (non-contiguous) tensor may be gathered into.
const MAX_GATHER_BYTES: u64 = 1 << 32;

/// Builds the IR constant for `meta` from the bytes of its storage entry. Errors are
/// messages for the caller to place (they name no file).
pub(crate) fn materialize(meta: &TensorMeta, storage: &Bytes) -> Result<Tensor, String> {
    let esize = meta.dtype.size_bytes() as u64;
    let storage_elems = match meta.storage.dtype {
        Some(_) => meta.storage.numel,
        None => meta.storage.numel / esize.max(1),
    };
    let storage_bytes = storage_elems
        .checked_mul(esize)
        .ok_or("storage size overflows")?;
    if (storage.len() as u64) < storage_bytes {
        return Err(format!(
            "storage `{}` holds {} bytes, its tensor needs {storage_bytes}",
            meta.storage.key,
            storage.len()
        ));
    }
    let Some(numel) = neoc_ir::shape::checked_elements(&meta.size) else {
        return Err(format!("tensor of shape {:?} is too large", meta.size));
    };
    if numel == 0 {
        return Tensor::from_bytes(meta.dtype, meta.size.clone(), Bytes::new())
            .map_err(|e| format!("{e:?}"));
    }
    // The furthest element the view reads must lie inside the storage.
    let mut last = meta.offset;
    for (&d, &s) in meta.size.iter().zip(&meta.stride) {
        last = (d - 1)
            .checked_mul(s)
            .and_then(|x| last.checked_add(x))
            .ok_or("tensor strides overflow")?;
    }
    if last >= storage_elems {
        return Err(format!(
            "tensor of shape {:?} (strides {:?}, offset {}) reads past its storage `{}` of {} \
             elements",
            meta.size, meta.stride, meta.offset, meta.storage.key, storage_elems
        ));
    }
    let contiguous = neoc_ir::shape::strides(&meta.size);
    let is_contiguous = meta
        .size
        .iter()
        .zip(meta.stride.iter().zip(&contiguous))
        .all(|(&d, (&s, &c))| d == 1 || s == c);
    let start = (meta.offset * esize) as usize;
    let data = if is_contiguous {
        storage.slice(start..start + (numel * esize) as usize)
    } else if numel.saturating_mul(esize) > MAX_GATHER_BYTES {
        return Err(format!(
            "strided tensor of shape {:?} would be gathered into more than {MAX_GATHER_BYTES} bytes",
            meta.size
        ));
    } else {
        let mut out = Vec::with_capacity((numel * esize) as usize);
        let mut idx = vec![0u64; meta.size.len()];
        let e = esize as usize;
        for _ in 0..numel {
            let off: u64 = meta.offset
                + idx
                    .iter()
                    .zip(&meta.stride)
                    .map(|(i, s)| i * s)
                    .sum::<u64>();
            let b = (off * esize) as usize;
            out.extend_from_slice(&storage[b..b + e]);
            for a in (0..idx.len()).rev() {
                idx[a] += 1;
                if idx[a] < meta.size[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        Bytes::from(out)
    };
    Tensor::from_bytes(meta.dtype, meta.size.clone(), data).map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::pickle::StorageRef;

    fn meta(size: Vec<u64>, stride: Vec<u64>, offset: u64, numel: u64) -> TensorMeta {
        TensorMeta {
            storage: StorageRef {
                key: "0".into(),
                dtype: Some(DType::F32),
                numel,
            },
            dtype: DType::F32,
            offset,
            size,
            stride,
        }
    }

    fn storage(n: usize) -> Bytes {
        (0..n)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn contiguous_views_are_slices() {
        let t = materialize(&meta(vec![2, 2], vec![2, 1], 2, 6), &storage(6)).unwrap();
        assert_eq!(t.to_f32_vec(), vec![2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn strided_views_are_gathered() {
        // The transpose of a 2x3 matrix.
        let t = materialize(&meta(vec![3, 2], vec![1, 3], 0, 6), &storage(6)).unwrap();
        assert_eq!(t.to_f32_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        // An expanded row (stride 0).
        let t = materialize(&meta(vec![2, 3], vec![0, 1], 0, 3), &storage(3)).unwrap();
        assert_eq!(t.to_f32_vec(), vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn out_of_bounds_views_are_errors() {
        assert!(materialize(&meta(vec![2, 3], vec![3, 1], 1, 6), &storage(6)).is_err());
        assert!(materialize(&meta(vec![2, 3], vec![3, 1], 0, 6), &storage(5)).is_err());
        assert!(materialize(
            &meta(vec![u64::MAX, 2], vec![u64::MAX, 1], 0, 6),
            &storage(6)
        )
        .is_err());
    }

    #[test]
    fn dtype_codes_agree() {
        assert_eq!(dtype_from_c10(6), Some(DType::F32));
        assert_eq!(dtype_from_export(7), Some(DType::F32));
        assert_eq!(dtype_from_c10(4), dtype_from_export(5));
        assert_eq!(c10_code(DType::I64), Some(4));
    }
}
