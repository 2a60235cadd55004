//! How the runtime's dtypes meet NumPy's.
//!
//! Most map one to one (`float32` ↔ `np.float32`, `bool` ↔ `np.bool_`, ...). NumPy has no
//! bfloat16, float8 or int4: those travel as their storage (bfloat16 as `uint16` bit
//! patterns, the float8s and `uint4` as `uint8`, `int4` as sign-extended `int8`, one
//! element per byte as in the artifact format). An input of such a type also accepts the
//! `ml_dtypes` dtype of the same name (`ml_dtypes.bfloat16`, ...), which has that storage.

use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::prelude::*;

use neoc_runtime::DType;

/// The NumPy dtype (a name `np.dtype` accepts) that holds `d`'s elements.
pub fn numpy_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F16 => "float16",
        DType::F64 => "float64",
        DType::I8 | DType::I4 => "int8",
        DType::U8 | DType::U4 => "uint8",
        DType::I16 => "int16",
        DType::U16 | DType::BF16 => "uint16",
        DType::I32 => "int32",
        DType::U32 => "uint32",
        DType::I64 => "int64",
        DType::U64 => "uint64",
        DType::Bool => "bool",
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => "uint8",
    }
}

/// The `ml_dtypes` name of a type NumPy lacks (`None` for NumPy's own types).
fn ml_dtypes_name(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::BF16 => "bfloat16",
        DType::F8E4M3FN => "float8_e4m3fn",
        DType::F8E4M3FNUZ => "float8_e4m3fnuz",
        DType::F8E5M2 => "float8_e5m2",
        DType::F8E5M2FNUZ => "float8_e5m2fnuz",
        DType::I4 => "int4",
        DType::U4 => "uint4",
        _ => return None,
    })
}

/// The NumPy dtype for `d` (see [`numpy_name`]).
pub fn numpy_dtype<'py>(py: Python<'py>, d: DType) -> PyResult<Bound<'py, PyArrayDescr>> {
    PyArrayDescr::new(py, numpy_name(d))
}

/// The runtime dtype NumPy's `descr` (in native byte order) stands for, when an input of
/// dtype `expected` is wanted: `expected` itself when `descr` is its NumPy type or storage
/// (see the module doc), else NumPy's own type, or `None` when neoc has no such type.
pub fn for_input(descr: &Bound<'_, PyArrayDescr>, expected: Option<DType>) -> Option<DType> {
    if let Some(e) = expected {
        let storage = numpy_name(e);
        let name = descr.str().ok()?.to_string();
        if name == storage || ml_dtypes_name(e).is_some_and(|m| m == name) {
            return Some(e);
        }
    }
    natural(descr)
}

/// NumPy's own numeric and boolean types.
fn natural(descr: &Bound<'_, PyArrayDescr>) -> Option<DType> {
    Some(match (descr.kind(), descr.itemsize()) {
        (b'f', 2) => DType::F16,
        (b'f', 4) => DType::F32,
        (b'f', 8) => DType::F64,
        (b'i', 1) => DType::I8,
        (b'i', 2) => DType::I16,
        (b'i', 4) => DType::I32,
        (b'i', 8) => DType::I64,
        (b'u', 1) => DType::U8,
        (b'u', 2) => DType::U16,
        (b'u', 4) => DType::U32,
        (b'u', 8) => DType::U64,
        (b'b', 1) => DType::Bool,
        _ => return None,
    })
}
