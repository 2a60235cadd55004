//! Element types of tensors.

use std::fmt;

/// The element type of a tensor value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    /// 8-bit float, 4 exponent bits, 3 mantissa bits, bias 7, no infinities, NaN
    /// `S.1111.111` (ONNX `FLOAT8E4M3FN`). Storage only: Cast, Q/DQ and data movement.
    F8E4M3FN,
    /// As `F8E4M3FN` with bias 8, no negative zero, the one NaN `0x80`
    /// (`FLOAT8E4M3FNUZ`).
    F8E4M3FNUZ,
    /// 8-bit float, 5 exponent bits, 2 mantissa bits, bias 15, with infinities
    /// (`FLOAT8E5M2`).
    F8E5M2,
    /// As `F8E5M2` with bias 16, no infinities, no negative zero, NaN `0x80`
    /// (`FLOAT8E5M2FNUZ`).
    F8E5M2FNUZ,
    /// 4-bit signed integer, held one per byte (sign-extended) in memory.
    I4,
    /// 4-bit unsigned integer, held one per byte in memory.
    U4,
}

impl DType {
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool | DType::I4 | DType::U4 => 1,
            DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        !self.is_float() && self != DType::Bool && self.minifloat().is_none()
    }

    /// The 8-bit float format of an `F8*` type.
    pub fn minifloat(self) -> Option<crate::minifloat::Format> {
        use crate::minifloat::Format;
        Some(match self {
            DType::F8E4M3FN => Format::E4M3FN,
            DType::F8E4M3FNUZ => Format::E4M3FNUZ,
            DType::F8E5M2 => Format::E5M2,
            DType::F8E5M2FNUZ => Format::E5M2FNUZ,
            _ => return None,
        })
    }

    /// Types that only convert and move: no arithmetic is defined on them in the IR
    /// (the 8-bit floats and the 4-bit integers). Cast, QuantizeLinear /
    /// DequantizeLinear and the data-movement ops take them.
    pub fn is_storage_only(self) -> bool {
        self.minifloat().is_some() || matches!(self, DType::I4 | DType::U4)
    }

    /// The inclusive value range of an integer type that is narrower than its storage
    /// (`I4`, `U4`); conversions into it saturate.
    pub fn narrow_int_range(self) -> Option<(i64, i64)> {
        match self {
            DType::I4 => Some((-8, 7)),
            DType::U4 => Some((0, 15)),
            _ => None,
        }
    }

    /// The name used in the text IR and in messages (`f32`, `i64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
            DType::F8E4M3FN => "f8e4m3fn",
            DType::F8E4M3FNUZ => "f8e4m3fnuz",
            DType::F8E5M2 => "f8e5m2",
            DType::F8E5M2FNUZ => "f8e5m2fnuz",
            DType::I4 => "i4",
            DType::U4 => "u4",
        }
    }

    pub fn from_name(s: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.name() == s)
    }
}

const ALL: [DType; 19] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E4M3FNUZ,
    DType::F8E5M2,
    DType::F8E5M2FNUZ,
    DType::I4,
    DType::U4,
];

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
