//! Reading and writing `.npy` files as raw tensors (dtype, shape, little-endian bytes).

use neoc_artifact::DType;
use npyz::WriterBuilder;
use std::path::Path;

/// A tensor read from or written to a `.npy` file.
#[derive(Debug, Clone)]
pub struct NpyTensor {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

fn le_bytes<T: Copy, const N: usize>(v: Vec<T>, f: fn(T) -> [u8; N]) -> Vec<u8> {
    v.into_iter().flat_map(f).collect()
}

/// Reads a C-ordered `.npy` file of a numeric or bool dtype.
pub fn read(path: &Path) -> Result<NpyTensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| format!("{} is not a valid .npy file: {e}", path.display()))?;
    if npy.order() != npyz::Order::C {
        return Err(format!(
            "{} is Fortran-ordered; save it C-contiguous (np.ascontiguousarray)",
            path.display()
        ));
    }
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => {
            return Err(format!(
                "{}: structured .npy dtype {} is not supported",
                path.display(),
                other.descr()
            ))
        }
    };
    let bad = |e: std::io::Error| format!("{}: {e}", path.display());
    let (dtype, data) = match descr.trim_start_matches(['<', '|', '=']) {
        "f4" => (
            DType::F32,
            le_bytes(npy.into_vec::<f32>().map_err(bad)?, f32::to_le_bytes),
        ),
        "f8" => (
            DType::F64,
            le_bytes(npy.into_vec::<f64>().map_err(bad)?, f64::to_le_bytes),
        ),
        "i1" => (
            DType::I8,
            le_bytes(npy.into_vec::<i8>().map_err(bad)?, i8::to_le_bytes),
        ),
        "u1" => (
            DType::U8,
            le_bytes(npy.into_vec::<u8>().map_err(bad)?, u8::to_le_bytes),
        ),
        "i2" => (
            DType::I16,
            le_bytes(npy.into_vec::<i16>().map_err(bad)?, i16::to_le_bytes),
        ),
        "u2" => (
            DType::U16,
            le_bytes(npy.into_vec::<u16>().map_err(bad)?, u16::to_le_bytes),
        ),
        "i4" => (
            DType::I32,
            le_bytes(npy.into_vec::<i32>().map_err(bad)?, i32::to_le_bytes),
        ),
        "u4" => (
            DType::U32,
            le_bytes(npy.into_vec::<u32>().map_err(bad)?, u32::to_le_bytes),
        ),
        "i8" => (
            DType::I64,
            le_bytes(npy.into_vec::<i64>().map_err(bad)?, i64::to_le_bytes),
        ),
        "u8" => (
            DType::U64,
            le_bytes(npy.into_vec::<u64>().map_err(bad)?, u64::to_le_bytes),
        ),
        "b1" => (
            DType::Bool,
            npy.into_vec::<bool>()
                .map_err(bad)?
                .into_iter()
                .map(u8::from)
                .collect(),
        ),
        other => {
            return Err(format!(
                "{}: unsupported .npy dtype `{descr}` ({other})",
                path.display()
            ))
        }
    };
    Ok(NpyTensor { dtype, shape, data })
}

fn chunks<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// Writes a tensor as a C-ordered little-endian `.npy` file.
pub fn write(path: &Path, dtype: DType, shape: &[u64], data: &[u8]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(err)?;
    let w = std::io::BufWriter::new(file);
    macro_rules! put {
        ($t:ty, $n:expr) => {{
            let mut wr = npyz::WriteOptions::<$t>::new()
                .default_dtype()
                .shape(shape)
                .writer(w)
                .begin_nd()
                .map_err(err)?;
            wr.extend(chunks::<$n>(data).map(<$t>::from_le_bytes))
                .map_err(err)?;
            wr.finish().map_err(err)
        }};
    }
    match dtype {
        DType::F32 => put!(f32, 4),
        DType::F64 => put!(f64, 8),
        DType::I8 => put!(i8, 1),
        DType::U8 => put!(u8, 1),
        DType::I16 => put!(i16, 2),
        DType::U16 => put!(u16, 2),
        DType::I32 => put!(i32, 4),
        DType::U32 => put!(u32, 4),
        DType::I64 => put!(i64, 8),
        DType::U64 => put!(u64, 8),
        DType::Bool => {
            let mut wr = npyz::WriteOptions::<bool>::new()
                .default_dtype()
                .shape(shape)
                .writer(w)
                .begin_nd()
                .map_err(err)?;
            wr.extend(data.iter().map(|&b| b != 0)).map_err(err)?;
            wr.finish().map_err(err)
        }
        DType::F16
        | DType::BF16
        | DType::F8E4M3FN
        | DType::F8E4M3FNUZ
        | DType::F8E5M2
        | DType::F8E5M2FNUZ
        | DType::I4
        | DType::U4 => Err(format!(
            "cannot write {}: {dtype} .npy output is not supported yet",
            path.display()
        )),
    }
}
