//! What the end-to-end model tests share: `.npy` inputs and references as runtime
//! tensors, and each case's `case.json`.

#![allow(dead_code)]

use neoc_runtime::DType;
use std::path::Path;

/// A `.npy` file as raw little-endian data.
pub struct Npy {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

impl Npy {
    /// Every element widened to `f64`, for comparisons.
    pub fn values(&self) -> Vec<f64> {
        values(self.dtype, &self.data)
    }
}

/// The elements of `data` (little-endian `dtype`) widened to `f64`.
pub fn values(dtype: DType, data: &[u8]) -> Vec<f64> {
    let c = |n: usize| data.chunks_exact(n);
    match dtype {
        DType::F32 => c(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        DType::I64 => c(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
        DType::I32 => c(4)
            .map(|b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        DType::Bool | DType::U8 => data.iter().map(|&b| f64::from(b)).collect(),
        other => panic!("unsupported test dtype {other}"),
    }
}

/// The elements of `npy` as `T`, each written out with `to_le`.
fn le_bytes<T: npyz::Deserialize, const N: usize>(
    npy: npyz::NpyFile<&[u8]>,
    to_le: impl Fn(T) -> [u8; N],
) -> Vec<u8> {
    npy.into_vec::<T>()
        .unwrap()
        .into_iter()
        .flat_map(to_le)
        .collect()
}

pub fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => panic!("{}: structured dtype {other:?}", path.display()),
    };
    let (dtype, data): (DType, Vec<u8>) = match descr.as_str() {
        "<f4" => (DType::F32, le_bytes(npy, f32::to_le_bytes)),
        "<i8" => (DType::I64, le_bytes(npy, i64::to_le_bytes)),
        "<i4" => (DType::I32, le_bytes(npy, i32::to_le_bytes)),
        "|b1" => (DType::Bool, le_bytes(npy, |b: bool| [u8::from(b)])),
        "|u1" => (DType::U8, npy.into_vec::<u8>().unwrap()),
        other => panic!("{}: unsupported dtype {other}", path.display()),
    };
    Npy { dtype, shape, data }
}

/// A case folder's `case.json`.
pub fn case(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap()
}

/// Little-endian f32 bytes widened to `f64`.
pub fn f32s(b: &[u8]) -> Vec<f64> {
    values(DType::F32, b)
}
