//! Constant tensors (weights and folded values).

use crate::dtype::DType;
use crate::error::{shape_err, OpResult};
use bytes::Bytes;
use std::fmt;

/// A constant tensor: dtype, static shape and little-endian bytes. Cloning is cheap (the
/// bytes are reference-counted), and frontends may hand in bytes that borrow the
/// model file's buffer, so large weights are not copied on import.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<u64>,
    data: Bytes,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({}{:?}, {} bytes)",
            self.dtype,
            self.shape,
            self.data.len()
        )
    }
}

impl Tensor {
    /// Wraps raw little-endian bytes; fails when the length does not match the shape.
    pub fn from_bytes(dtype: DType, shape: Vec<u64>, data: Bytes) -> OpResult<Tensor> {
        let Some(n) = crate::shape::checked_elements(&shape) else {
            return shape_err(format!("tensor of {dtype}{shape:?} is too large"));
        };
        if data.len() as u64 != n * dtype.size_bytes() as u64 {
            return shape_err(format!(
                "tensor of {dtype}{shape:?} needs {} bytes, got {}",
                n * dtype.size_bytes() as u64,
                data.len()
            ));
        }
        Ok(Tensor { dtype, shape, data })
    }

    pub fn from_f32(shape: Vec<u64>, values: &[f32]) -> Tensor {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor {
            dtype: DType::F32,
            shape,
            data: data.into(),
        }
    }

    pub fn from_i64(shape: Vec<u64>, values: &[i64]) -> Tensor {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor {
            dtype: DType::I64,
            shape,
            data: data.into(),
        }
    }

    /// Builds a tensor of `dtype` from `f64` values, rounding or truncating as a cast would.
    pub fn from_f64_as(dtype: DType, shape: Vec<u64>, values: &[f64]) -> Tensor {
        let mut data = Vec::with_capacity(values.len() * dtype.size_bytes());
        for &v in values {
            match dtype {
                DType::F32 => data.extend((v as f32).to_le_bytes()),
                DType::F64 => data.extend(v.to_le_bytes()),
                DType::F16 => data.extend(half::f16::from_f64(v).to_le_bytes()),
                DType::BF16 => data.extend(half::bf16::from_f64(v).to_le_bytes()),
                DType::I8 => data.extend((v as i8).to_le_bytes()),
                DType::U8 => data.extend((v as u8).to_le_bytes()),
                DType::I16 => data.extend((v as i16).to_le_bytes()),
                DType::U16 => data.extend((v as u16).to_le_bytes()),
                DType::I32 => data.extend((v as i32).to_le_bytes()),
                DType::U32 => data.extend((v as u32).to_le_bytes()),
                DType::I64 => data.extend((v as i64).to_le_bytes()),
                DType::U64 => data.extend((v as u64).to_le_bytes()),
                DType::Bool => data.push(u8::from(v != 0.0)),
                DType::I4 | DType::U4 => {
                    let (lo, hi) = dtype.narrow_int_range().unwrap_or((0, 0));
                    data.push(v.round_ties_even().clamp(lo as f64, hi as f64) as i8 as u8)
                }
                DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => {
                    if let Some(format) = dtype.minifloat() {
                        data.push(crate::minifloat::encode(format, v as f32));
                    }
                }
            }
        }
        Tensor {
            dtype,
            shape,
            data: data.into(),
        }
    }

    /// Builds an integer tensor of `dtype` from `i64` bit patterns, wrapping to the
    /// type's width (as integer arithmetic does; `from_f64_as` saturates instead).
    pub fn from_i64_wrapping(dtype: DType, shape: Vec<u64>, values: &[i64]) -> Tensor {
        let mut data = Vec::with_capacity(values.len() * dtype.size_bytes());
        for &v in values {
            match dtype {
                DType::I8 | DType::U8 => data.push(v as u8),
                DType::I16 | DType::U16 => data.extend((v as u16).to_le_bytes()),
                DType::I32 | DType::U32 => data.extend((v as u32).to_le_bytes()),
                DType::Bool => data.push(u8::from(v != 0)),
                _ => data.extend(v.to_le_bytes()),
            }
        }
        Tensor {
            dtype,
            shape,
            data: data.into(),
        }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    pub fn num_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Every element widened to `f64` (exact for all types but 64-bit integers beyond 2^53).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let sz = self.dtype.size_bytes();
        self.data
            .chunks_exact(sz)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..sz].copy_from_slice(c);
                match self.dtype {
                    DType::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    DType::F64 => f64::from_le_bytes(b),
                    DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f64(),
                    DType::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f64(),
                    DType::I8 | DType::I4 => f64::from(b[0] as i8),
                    DType::U8 | DType::U4 => f64::from(b[0]),
                    DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => {
                        match self.dtype.minifloat() {
                            Some(format) => f64::from(crate::minifloat::decode(format, b[0])),
                            None => f64::NAN,
                        }
                    }
                    DType::I16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
                    DType::U16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
                    DType::I32 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    DType::U32 => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    DType::I64 => i64::from_le_bytes(b) as f64,
                    DType::U64 => u64::from_le_bytes(b) as f64,
                    DType::Bool => f64::from(u8::from(b[0] != 0)),
                }
            })
            .collect()
    }

    /// Every element as `i64` (floats truncate). Used for shape-like constants.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        if matches!(self.dtype, DType::I64 | DType::U64) {
            return self
                .data
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    i64::from_le_bytes(b)
                })
                .collect();
        }
        self.to_f64_vec().into_iter().map(|v| v as i64).collect()
    }

    /// Elements as `f32`, converting from any dtype.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        if self.dtype == DType::F32 {
            return self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
        self.to_f64_vec().into_iter().map(|v| v as f32).collect()
    }

    /// The same data under another shape with the same element count.
    pub fn reshaped(&self, shape: Vec<u64>) -> OpResult<Tensor> {
        Tensor::from_bytes(self.dtype, shape, self.data.clone())
    }

    /// A short rendering of the first values, for the text IR and messages.
    pub fn preview(&self, max: usize) -> String {
        let n = self.num_elements() as usize;
        let vals = if self.dtype.is_float() {
            let v = self.to_f64_vec();
            v.iter()
                .take(max)
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
        } else {
            let v = self.to_i64_vec();
            v.iter()
                .take(max)
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
        };
        let more = if n > max { ", ..." } else { "" };
        format!("[{}{more}]", vals.join(", "))
    }
}
