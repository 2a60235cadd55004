//! Bytes → [`ModelProto`], and ONNX tensors → IR [`Tensor`]s.
//!
//! Tensor data comes from `raw_data` (little-endian; zero-copy, a slice of the model
//! buffer), from the typed repeated fields (`float_data`, `int32_data`, ...), or from a
//! file beside the model (`data_location = EXTERNAL`). External files are resolved
//! against the model's directory, must stay inside it, and are memory-mapped once each
//! and shared by every tensor that points into them (zero-copy too).

use crate::proto::{data_type, DataLocation, ModelProto, TensorProto, ValueInfoProto};
use bytes::Bytes;
use neoc_ir::{DType, Tensor};
use prost::Message;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The contents of the file at `path` as one [`Bytes`] buffer: a read-only memory map
/// of it (no copy; pages are loaded as they are touched), which slices of the buffer
/// keep alive. An empty file gives an empty buffer (a zero-length file cannot be
/// mapped); what is not a regular file (a pipe, a device) is read into memory instead,
/// and a directory gives the operating system's error, as reading it would.
pub(crate) fn map_file(path: &Path) -> std::io::Result<Bytes> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let mut v = Vec::new();
        file.read_to_end(&mut v)?;
        return Ok(v.into());
    }
    if meta.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: a map is sound only while no one truncates or rewrites the file, which
    // this process cannot prevent. If another process truncates it, touching a page past
    // the new end raises SIGBUS and the compiler dies; if another process rewrites it,
    // bytes under a shared slice change. A compiler reads its input once,
    // during one run, from files the user handed it: compiling a file while it is being
    // changed has no meaningful result whether it is mapped or read, and mapping spares
    // reading gigabytes of weights into memory. The map is read-only.
    let map = unsafe { memmap2::Mmap::map(&file) }?;
    Ok(Bytes::from_owner(map))
}

/// Decodes a model; the error is the protobuf decoder's message.
pub(crate) fn decode_model(bytes: Bytes) -> Result<ModelProto, String> {
    ModelProto::decode(bytes).map_err(|e| {
        let s = e.to_string();
        s.strip_prefix("failed to decode Protobuf message: ")
            .map(str::to_string)
            .unwrap_or(s)
    })
}

/// The IR dtype of an ONNX `DataType`, or `None` for types the IR lacks.
pub(crate) fn dtype_of(onnx: i32) -> Option<DType> {
    Some(match onnx {
        data_type::FLOAT => DType::F32,
        data_type::UINT8 => DType::U8,
        data_type::INT8 => DType::I8,
        data_type::UINT16 => DType::U16,
        data_type::INT16 => DType::I16,
        data_type::INT32 => DType::I32,
        data_type::INT64 => DType::I64,
        data_type::BOOL => DType::Bool,
        data_type::FLOAT16 => DType::F16,
        data_type::DOUBLE => DType::F64,
        data_type::UINT32 => DType::U32,
        data_type::UINT64 => DType::U64,
        data_type::BFLOAT16 => DType::BF16,
        data_type::FLOAT8E4M3FN => DType::F8E4M3FN,
        data_type::FLOAT8E4M3FNUZ => DType::F8E4M3FNUZ,
        data_type::FLOAT8E5M2 => DType::F8E5M2,
        data_type::FLOAT8E5M2FNUZ => DType::F8E5M2FNUZ,
        data_type::INT4 => DType::I4,
        data_type::UINT4 => DType::U4,
        _ => return None,
    })
}

/// The ONNX name of a `DataType` (for messages and `inspect`).
pub(crate) fn onnx_type_name(onnx: i32) -> String {
    match onnx {
        data_type::STRING => "string".into(),
        data_type::COMPLEX64 => "complex64".into(),
        data_type::COMPLEX128 => "complex128".into(),
        0 => "undefined".into(),
        t => match dtype_of(t) {
            Some(d) => d.name().into(),
            None => format!("data type {t}"),
        },
    }
}

/// One declared dim of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeclDim {
    Fixed(u64),
    /// A named symbolic dim (`dim_param`), e.g. a batch size.
    Sym(String),
    /// Neither a value nor a name.
    Unknown,
}

/// The declared type of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeclType {
    /// An ONNX `DataType` value.
    pub(crate) elem: i32,
    /// `None` when not even the rank is declared.
    pub(crate) dims: Option<Vec<DeclDim>>,
}

/// The declared tensor type of `vi`; an error message for a missing or non-tensor type.
pub(crate) fn decl_type(vi: &ValueInfoProto) -> Result<DeclType, String> {
    use crate::proto::tensor_shape_proto::dimension::Value as D;
    use crate::proto::type_proto::Value;
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(Value::TensorType(t)) => t,
        Some(Value::SequenceType(_)) => return Err("is a sequence, not a tensor".into()),
        Some(Value::MapType(_)) => return Err("is a map, not a tensor".into()),
        Some(Value::OptionalType(_)) => return Err("is an optional, not a tensor".into()),
        Some(Value::SparseTensorType(_)) => return Err("is a sparse tensor".into()),
        None => return Err("has no declared type".into()),
    };
    let dims = tensor.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(D::DimValue(v)) if *v >= 0 => DeclDim::Fixed(*v as u64),
                Some(D::DimParam(p)) if !p.is_empty() => DeclDim::Sym(p.clone()),
                _ => DeclDim::Unknown,
            })
            .collect()
    });
    Ok(DeclType {
        elem: tensor.elem_type,
        dims,
    })
}

/// Why a tensor could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TensorError {
    /// The tensor itself is malformed or of an unsupported type.
    Invalid(String),
    /// Its external data is missing, escapes the model directory or is too short.
    External(String),
}

impl TensorError {
    pub(crate) fn message(&self) -> &str {
        match self {
            TensorError::Invalid(m) | TensorError::External(m) => m,
        }
    }
}

/// Reads tensors of one model, caching external data files.
#[derive(Debug, Default)]
pub(crate) struct TensorReader {
    base_dir: Option<PathBuf>,
    files: HashMap<PathBuf, Bytes>,
}

impl TensorReader {
    pub(crate) fn new(base_dir: Option<&Path>) -> TensorReader {
        TensorReader {
            base_dir: base_dir.map(Path::to_path_buf),
            files: HashMap::new(),
        }
    }

    /// Converts `t` into an IR tensor (its shape is `t.dims`).
    pub(crate) fn tensor(&mut self, t: &TensorProto) -> Result<Tensor, TensorError> {
        let invalid = |m: String| TensorError::Invalid(m);
        let dtype = dtype_of(t.data_type).ok_or_else(|| {
            invalid(format!(
                "element type {} is not supported",
                onnx_type_name(t.data_type)
            ))
        })?;
        if t.segment.is_some() {
            return Err(invalid("segmented tensors are not supported".into()));
        }
        let mut shape = Vec::with_capacity(t.dims.len());
        for &d in &t.dims {
            if d < 0 {
                return Err(invalid(format!("negative dimension in {:?}", t.dims)));
            }
            shape.push(d as u64);
        }
        let n = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| invalid(format!("dims {:?} overflow", t.dims)))?;
        let want = n
            .checked_mul(dtype.size_bytes() as u64)
            .ok_or_else(|| invalid(format!("dims {:?} overflow", t.dims)))?;
        if matches!(dtype, DType::I4 | DType::U4) {
            // Two elements per byte in the file, low nibble first; one per byte here.
            let packed = n.div_ceil(2);
            let data = if t.data_location == DataLocation::External as i32 {
                self.external(t, packed)?
            } else if !t.raw_data.is_empty() || n == 0 {
                t.raw_data.clone()
            } else {
                t.int32_data
                    .iter()
                    .map(|&v| v as u8)
                    .collect::<Vec<u8>>()
                    .into()
            };
            if data.len() as u64 != packed {
                return Err(invalid(format!(
                    "{dtype}{:?} needs {packed} packed bytes, the model has {}",
                    t.dims,
                    data.len()
                )));
            }
            let data = unpack_4bit(&data, n, dtype == DType::I4);
            return Tensor::from_bytes(dtype, shape, data.into())
                .map_err(|_| invalid(format!("{dtype}{:?} is too large", t.dims)));
        }
        let data = if t.data_location == DataLocation::External as i32 {
            self.external(t, want)?
        } else if !t.raw_data.is_empty() || n == 0 {
            t.raw_data.clone()
        } else {
            typed_data(t, dtype, n).map_err(invalid)?
        };
        Tensor::from_bytes(dtype, shape, data).map_err(|_| {
            invalid(format!(
                "{dtype}{:?} needs {want} bytes of data, the model has a different amount",
                t.dims
            ))
        })
    }

    fn external(&mut self, t: &TensorProto, want: u64) -> Result<Bytes, TensorError> {
        let ext = |m: String| TensorError::External(m);
        let key = |k: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == k)
                .map(|e| e.value.as_str())
        };
        let location = key("location").ok_or_else(|| ext("no `location` key".into()))?;
        let num = |k: &str| -> Result<Option<u64>, TensorError> {
            match key(k) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| ext(format!("`{k}` is not a non-negative integer: {v:?}"))),
            }
        };
        let offset = num("offset")?.unwrap_or(0);
        let length = num("length")?;
        let Some(base) = self.base_dir.clone() else {
            return Err(ext(format!(
                "the data is in \"{location}\" beside the model, but the model was given as \
                 bytes without a directory; load it from a file instead"
            )));
        };
        let rel = Path::new(location);
        if rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(ext(format!(
                "location \"{location}\" must be a relative path inside the model's directory"
            )));
        }
        let path = base.join(rel);
        let data = match self.files.get(&path) {
            Some(d) => d.clone(),
            None => {
                // Symbolic links must not lead outside the directory either.
                if let (Ok(real), Ok(real_base)) = (path.canonicalize(), base.canonicalize()) {
                    if !real.starts_with(&real_base) {
                        return Err(ext(format!(
                            "location \"{location}\" resolves outside the model's directory"
                        )));
                    }
                }
                let d = map_file(&path).map_err(|e| {
                    ext(format!(
                        "cannot read data file {}: {}",
                        path.display(),
                        neoc_ir::error::io_reason(&e)
                    ))
                })?;
                self.files.insert(path.clone(), d.clone());
                d
            }
        };
        let size = data.len() as u64;
        let len = length.unwrap_or_else(|| size.saturating_sub(offset));
        if len != want {
            return Err(ext(format!(
                "`length` is {len} bytes but the tensor needs {want}"
            )));
        }
        let end = offset.checked_add(len).filter(|&e| e <= size);
        let Some(end) = end else {
            return Err(ext(format!(
                "bytes {offset}..{} are past the end of {} ({size} bytes)",
                offset.saturating_add(len),
                path.display()
            )));
        };
        Ok(data.slice(offset as usize..end as usize))
    }
}

/// The first `n` 4-bit values of `packed` (low nibble first), one per byte,
/// sign-extended when `signed`.
pub fn unpack_4bit(packed: &[u8], n: u64, signed: bool) -> Vec<u8> {
    packed
        .iter()
        .flat_map(|&b| [b & 0x0F, b >> 4])
        .take(n as usize)
        .map(|v| if signed && v & 0x08 != 0 { v | 0xF0 } else { v })
        .collect()
}

/// Little-endian bytes from the typed repeated field that holds `dtype`.
fn typed_data(t: &TensorProto, dtype: DType, n: u64) -> Result<Bytes, String> {
    let count = |len: usize, field: &str| -> Result<(), String> {
        if len as u64 == n {
            Ok(())
        } else {
            Err(format!(
                "{dtype}{:?} has {n} elements but {field} holds {len}",
                t.dims
            ))
        }
    };
    // Sized from the field actually present (bounded by the file), not from `dims`.
    let present = [
        t.float_data.len(),
        t.double_data.len(),
        t.int64_data.len(),
        t.uint64_data.len(),
        t.int32_data.len(),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    let mut out: Vec<u8> = Vec::with_capacity(present.min(n as usize) * dtype.size_bytes());
    match dtype {
        DType::F32 => {
            count(t.float_data.len(), "float_data")?;
            out.extend(t.float_data.iter().flat_map(|v| v.to_le_bytes()));
        }
        DType::F64 => {
            count(t.double_data.len(), "double_data")?;
            out.extend(t.double_data.iter().flat_map(|v| v.to_le_bytes()));
        }
        DType::I64 => {
            count(t.int64_data.len(), "int64_data")?;
            out.extend(t.int64_data.iter().flat_map(|v| v.to_le_bytes()));
        }
        DType::U64 => {
            count(t.uint64_data.len(), "uint64_data")?;
            out.extend(t.uint64_data.iter().flat_map(|v| v.to_le_bytes()));
        }
        DType::U32 => {
            count(t.uint64_data.len(), "uint64_data")?;
            out.extend(t.uint64_data.iter().flat_map(|&v| (v as u32).to_le_bytes()));
        }
        DType::I32 => {
            count(t.int32_data.len(), "int32_data")?;
            out.extend(t.int32_data.iter().flat_map(|v| v.to_le_bytes()));
        }
        // Small types travel in int32_data; float16/bfloat16 as their bit patterns.
        DType::I16 | DType::U16 | DType::F16 | DType::BF16 => {
            count(t.int32_data.len(), "int32_data")?;
            out.extend(t.int32_data.iter().flat_map(|&v| (v as u16).to_le_bytes()));
        }
        DType::I8
        | DType::U8
        | DType::F8E4M3FN
        | DType::F8E4M3FNUZ
        | DType::F8E5M2
        | DType::F8E5M2FNUZ
        | DType::I4
        | DType::U4 => {
            count(t.int32_data.len(), "int32_data")?;
            out.extend(t.int32_data.iter().map(|&v| v as u8));
        }
        DType::Bool => {
            count(t.int32_data.len(), "int32_data")?;
            out.extend(t.int32_data.iter().map(|&v| u8::from(v != 0)));
        }
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(dtype: i32, dims: Vec<i64>) -> TensorProto {
        TensorProto {
            dims,
            data_type: dtype,
            ..TensorProto::default()
        }
    }

    #[test]
    fn typed_fields_become_little_endian_bytes() {
        let mut r = TensorReader::new(None);
        let mut t = proto(data_type::FLOAT, vec![2]);
        t.float_data = vec![1.5, -2.0];
        assert_eq!(r.tensor(&t).unwrap().to_f32_vec(), vec![1.5, -2.0]);

        let mut t = proto(data_type::FLOAT16, vec![1]);
        t.int32_data = vec![0x3C00]; // 1.0
        assert_eq!(r.tensor(&t).unwrap().to_f64_vec(), vec![1.0]);

        let mut t = proto(data_type::INT8, vec![2]);
        t.int32_data = vec![-3, 7];
        assert_eq!(r.tensor(&t).unwrap().to_i64_vec(), vec![-3, 7]);

        let mut t = proto(data_type::BOOL, vec![2]);
        t.int32_data = vec![0, 1];
        assert_eq!(r.tensor(&t).unwrap().to_i64_vec(), vec![0, 1]);

        let mut t = proto(data_type::UINT32, vec![1]);
        t.uint64_data = vec![4_000_000_000];
        assert_eq!(r.tensor(&t).unwrap().to_f64_vec(), vec![4e9]);

        let mut t = proto(data_type::DOUBLE, vec![]);
        t.double_data = vec![0.25];
        assert_eq!(r.tensor(&t).unwrap().to_f64_vec(), vec![0.25]);
    }

    #[test]
    fn wrong_element_count_is_an_error() {
        let mut r = TensorReader::new(None);
        let mut t = proto(data_type::INT64, vec![3]);
        t.int64_data = vec![1, 2];
        assert!(matches!(r.tensor(&t), Err(TensorError::Invalid(_))));
        let mut t = proto(data_type::FLOAT, vec![2]);
        t.raw_data = Bytes::from_static(&[0; 7]);
        assert!(matches!(r.tensor(&t), Err(TensorError::Invalid(_))));
        let t = proto(data_type::STRING, vec![1]);
        assert!(matches!(r.tensor(&t), Err(TensorError::Invalid(_))));
    }

    #[test]
    fn raw_data_borrows_the_model_buffer() {
        let mut t = proto(data_type::FLOAT, vec![4]);
        t.raw_data = Bytes::from(vec![0u8; 16]);
        let model = ModelProto {
            graph: Some(crate::proto::GraphProto {
                initializer: vec![t],
                ..Default::default()
            }),
            ..Default::default()
        };
        let buf = Bytes::from(model.encode_to_vec());
        let decoded = decode_model(buf.clone()).unwrap();
        let raw = &decoded.graph.unwrap().initializer[0].raw_data;
        let start = buf.as_ptr() as usize;
        let p = raw.as_ptr() as usize;
        assert!(p >= start && p + raw.len() <= start + buf.len());
    }

    #[test]
    fn external_location_must_stay_inside_the_directory() {
        let mut r = TensorReader::new(Some(Path::new("/tmp")));
        let mut t = proto(data_type::FLOAT, vec![1]);
        t.data_location = DataLocation::External as i32;
        for loc in ["../x.bin", "/etc/passwd"] {
            t.external_data = vec![crate::proto::StringStringEntryProto {
                key: "location".into(),
                value: loc.into(),
            }];
            match r.tensor(&t) {
                Err(TensorError::External(m)) => assert!(m.contains("inside"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
