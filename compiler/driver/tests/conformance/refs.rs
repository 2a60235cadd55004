//! Reference tensors of the conformance sets: `TensorProto` / `SequenceProto` files
//! decoded into the runtime's layout, and values widened for comparison.

use neoc_onnx::proto::{data_type as dt, TensorProto};
use neoc_runtime::DType;
use prost::Message;
use std::path::Path;

/// A decoded `TensorProto`: little-endian data in the runtime's layout.
pub(crate) struct Ref {
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<u64>,
    pub(crate) data: Vec<u8>,
}

fn dtype_of(code: i32) -> Result<DType, String> {
    Ok(match code {
        dt::FLOAT => DType::F32,
        dt::UINT8 => DType::U8,
        dt::INT8 => DType::I8,
        dt::UINT16 => DType::U16,
        dt::INT16 => DType::I16,
        dt::INT32 => DType::I32,
        dt::INT64 => DType::I64,
        dt::BOOL => DType::Bool,
        dt::FLOAT16 => DType::F16,
        dt::DOUBLE => DType::F64,
        dt::UINT32 => DType::U32,
        dt::UINT64 => DType::U64,
        dt::BFLOAT16 => DType::BF16,
        dt::FLOAT8E4M3FN => DType::F8E4M3FN,
        dt::FLOAT8E4M3FNUZ => DType::F8E4M3FNUZ,
        dt::FLOAT8E5M2 => DType::F8E5M2,
        dt::FLOAT8E5M2FNUZ => DType::F8E5M2FNUZ,
        dt::INT4 => DType::I4,
        dt::UINT4 => DType::U4,
        other => {
            return Err(format!(
                "reference element type {other} has no runtime dtype"
            ))
        }
    })
}

pub(crate) fn decode_tensor(path: &Path) -> Result<Ref, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = TensorProto::decode(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
    tensor_ref(&t, path)
}

/// onnx's `SequenceProto`, only the fields the references use.
#[derive(Clone, PartialEq, prost::Message)]
struct SequenceProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int32, tag = "2")]
    elem_type: i32,
    #[prost(message, repeated, tag = "3")]
    tensor_values: Vec<TensorProto>,
}

/// The tensor elements of a `SequenceProto` file.
pub(crate) fn decode_sequence(path: &Path) -> Result<Vec<TensorProto>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s = SequenceProto::decode(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s.tensor_values)
}

/// Whether a reference file holds a sequence of tensors (elem_type 1, TENSOR) rather
/// than a tensor.
pub(crate) fn is_sequence(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| SequenceProto::decode(&b[..]).ok())
        .is_some_and(|s| s.elem_type == 1 && !s.tensor_values.is_empty())
}

pub(crate) fn tensor_ref(t: &TensorProto, path: &Path) -> Result<Ref, String> {
    let dtype = dtype_of(t.data_type)?;
    let shape: Vec<u64> = t.dims.iter().map(|&d| d as u64).collect();
    let n: u64 = shape.iter().product();
    let data: Vec<u8> = if matches!(dtype, DType::I4 | DType::U4) {
        // Packed two per byte in the file (raw_data or int32_data), one per byte here.
        let packed: Vec<u8> = if t.raw_data.is_empty() {
            t.int32_data.iter().map(|&v| v as u8).collect()
        } else {
            t.raw_data.to_vec()
        };
        neoc_onnx::unpack_4bit(&packed, n, dtype == DType::I4)
    } else if !t.raw_data.is_empty() || n == 0 {
        t.raw_data.to_vec()
    } else {
        match dtype {
            DType::F32 => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::F64 => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::U64 => t.uint64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::U32 => t
                .uint64_data
                .iter()
                .flat_map(|&v| (v as u32).to_le_bytes())
                .collect(),
            DType::I32 => t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => t
                .int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect(),
            DType::I8
            | DType::U8
            | DType::Bool
            | DType::I4
            | DType::U4
            | DType::F8E4M3FN
            | DType::F8E4M3FNUZ
            | DType::F8E5M2
            | DType::F8E5M2FNUZ => t.int32_data.iter().map(|&v| v as u8).collect(),
        }
    };
    if data.len() as u64 != n * dtype.size_bytes() as u64 {
        return Err(format!(
            "{}: {} data bytes for {dtype}{shape:?}",
            path.display(),
            data.len()
        ));
    }
    Ok(Ref { dtype, shape, data })
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Every element widened to `f64` (64-bit integers above 2^53 lose precision, which the
/// suite's values never reach).
pub(crate) fn values(dtype: DType, data: &[u8]) -> Vec<f64> {
    let c = |n: usize| data.chunks_exact(n);
    match dtype {
        DType::F32 => c(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        DType::F64 => c(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        DType::F16 => c(2)
            .map(|b| f16_to_f64(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        DType::BF16 => c(2)
            .map(|b| {
                f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
                ))
            })
            .collect(),
        DType::I8 | DType::I4 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        DType::U8 | DType::Bool | DType::U4 => data.iter().map(|&b| f64::from(b)).collect(),
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => {
            let ir = neoc_driver::ir_dtype(dtype);
            let Some(format) = ir.minifloat() else {
                return Vec::new();
            };
            data.iter()
                .map(|&b| f64::from(neoc_ir::minifloat::decode(format, b)))
                .collect()
        }
        DType::I16 => c(2)
            .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
            .collect(),
        DType::U16 => c(2)
            .map(|b| f64::from(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        DType::I32 => c(4)
            .map(|b| f64::from(i32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        DType::U32 => c(4)
            .map(|b| f64::from(u32::from_le_bytes(b.try_into().unwrap())))
            .collect(),
        DType::I64 => c(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        DType::U64 => c(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
    }
}
