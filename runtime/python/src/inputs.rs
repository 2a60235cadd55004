//! What `Model.run` accepts, turned into tensors the runtime reads in place.
//!
//! Three forms: a dict `{name: array}` (any order), a list or tuple in signature order, or
//! one array for a one-input model. Each value becomes a NumPy array (`np.asarray`) whose
//! memory the runtime borrows for the run: zero-copy when it is C-contiguous and in native
//! byte order; otherwise NumPy makes one contiguous, native-order copy first (never a change
//! of dtype: a float64 array for a float32 input is an `InputError` naming both).
//! Misaligned data is copied by the runtime itself.

use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};

use neoc_runtime::{DType, Model, TensorRef, TensorSpec};

use crate::{dtype, errors};

static AS_ARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static AS_CONTIGUOUS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One input value, ready to lend to the runtime.
struct Value<'py> {
    /// The name it was given under (dict form), or its input's name (list form).
    name: Option<String>,
    /// Keeps the memory alive (and unmovable: NumPy refuses to resize a referenced array).
    array: Bound<'py, PyUntypedArray>,
    dtype: DType,
    shape: Vec<u64>,
}

/// The inputs of one run, in the form they were given.
pub struct Inputs<'py> {
    values: Vec<Value<'py>>,
    named: bool,
}

/// The tensors the runtime reads, borrowing from [`Inputs`].
#[derive(Debug)]
pub enum Refs<'a> {
    Positional(Vec<TensorRef<'a>>),
    Named(Vec<(&'a str, TensorRef<'a>)>),
}

impl<'py> Inputs<'py> {
    /// Converts `given` (dict, list/tuple, or one array) for `model`.
    pub fn collect(model: &Model, given: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = given.py();
        let specs = model.inputs();
        if let Ok(dict) = given.cast::<PyDict>() {
            let mut values = Vec::with_capacity(dict.len());
            // Iterate over a snapshot: converting a value may run Python code (`__array__`)
            // that could change the dict.
            for item in dict.items().iter() {
                let (k, v): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract()?;
                let name: String = k.extract().map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err(format!(
                        "input names must be str, got {}",
                        k.get_type()
                            .name()
                            .map_or_else(|_| "?".to_string(), |n| n.to_string())
                    ))
                })?;
                let spec = specs.iter().find(|s| s.name == name);
                values.push(value(model, Some(name), &v, spec, None)?);
            }
            return Ok(Inputs {
                values,
                named: true,
            });
        }
        let items: Vec<Bound<'py, PyAny>> =
            if given.is_instance_of::<PyList>() || given.is_instance_of::<PyTuple>() {
                given.try_iter()?.collect::<PyResult<_>>()?
            } else if specs.len() == 1 {
                vec![given.clone()]
            } else {
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                return Err(errors::input(
                    py,
                    format!(
                        "{}: the model has {} inputs ({}): pass a dict {{name: array}} or a list \
                     in that order",
                        model.file(),
                        specs.len(),
                        names.join(", ")
                    ),
                ));
            };
        let values = items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let spec = specs.get(i);
                let name = spec.map(|s| s.name.clone());
                value(model, name, v, spec, Some(i))
            })
            .collect::<PyResult<_>>()?;
        Ok(Inputs {
            values,
            named: false,
        })
    }

    /// Borrowed views of the inputs' memory, valid while `self` lives.
    pub fn refs(&self) -> Refs<'_> {
        if self.named {
            Refs::Named(
                self.values
                    .iter()
                    .map(|v| (v.name.as_deref().unwrap_or_default(), v.tensor()))
                    .collect(),
            )
        } else {
            Refs::Positional(self.values.iter().map(Value::tensor).collect())
        }
    }
}

impl Value<'_> {
    fn tensor(&self) -> TensorRef<'_> {
        TensorRef::new(self.dtype, &self.shape, bytes(&self.array))
    }
}

/// The array's data as bytes. The array is C-contiguous (see [`value`]).
fn bytes<'a>(array: &'a Bound<'_, PyUntypedArray>) -> &'a [u8] {
    let len = array.len() * array.dtype().itemsize();
    if len == 0 {
        return &[];
    }
    // SAFETY: `array` is C-contiguous, so its `len` bytes start at `data`; the array is kept
    // alive (and cannot be resized, being referenced) for as long as the borrow of `array`.
    // As with NumPy's own GIL-releasing functions, another thread must not write it while
    // a run reads it.
    unsafe {
        let data = (*array.as_array_ptr()).fields.data.cast::<u8>();
        std::slice::from_raw_parts(data, len)
    }
}

/// Converts one input value. `expected` is the input it is for, if known; `position` its
/// index in the list form.
fn value<'py>(
    model: &Model,
    name: Option<String>,
    v: &Bound<'py, PyAny>,
    expected: Option<&TensorSpec>,
    position: Option<usize>,
) -> PyResult<Value<'py>> {
    let py = v.py();
    let mut array = match v.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => AS_ARRAY
            .import(py, "numpy", "asarray")?
            .call1((v,))?
            .cast_into::<PyUntypedArray>()?,
    };
    if array.dtype().is_native_byteorder() == Some(false) {
        let native = array.dtype().call_method1("newbyteorder", ("=",))?;
        array = array
            .call_method1("astype", (native,))?
            .cast_into::<PyUntypedArray>()?;
    }
    if !array.is_c_contiguous() {
        array = AS_CONTIGUOUS
            .import(py, "numpy", "ascontiguousarray")?
            .call1((&array,))?
            .cast_into::<PyUntypedArray>()?;
    }
    let shape: Vec<u64> = array.shape().iter().map(|&d| d as u64).collect();
    let Some(dtype) = dtype::for_input(&array.dtype(), expected.map(|s| s.dtype)) else {
        let label = match (&name, position) {
            (Some(n), _) => format!("input \"{n}\""),
            (None, Some(i)) => format!("input {i}"),
            (None, None) => "input".to_string(),
        };
        let want = match expected {
            Some(e) => format!("expected {}, got", e.type_string()),
            None => "got".to_string(),
        };
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        return Err(errors::input(
            py,
            format!(
                "{}: {label}: {want} {}[{}], a NumPy dtype neoc has no counterpart for",
                model.file(),
                array.dtype().str()?,
                dims.join(",")
            ),
        ));
    };
    Ok(Value {
        name,
        array,
        dtype,
        shape,
    })
}
