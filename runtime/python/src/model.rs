//! The Python classes `neoc.Model` and `neoc.TensorInfo`, and `neoc.load`/`load_bytes`.

use std::panic::{catch_unwind, AssertUnwindSafe, UnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray1, PyArrayDescr};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMemoryView, PyString, PyTuple};

use neoc_runtime::{DType, Tensor, TensorSpec};

use crate::contexts::ContextPool;
use crate::inputs::{Inputs, Refs};
use crate::{dtype, errors};

/// Loads the artifact at `path` (str or path-like), validates it and picks the code
/// variant this CPU runs best. `threads` is the number of threads each run uses (None:
/// one per CPU). The GIL is released while loading.
#[pyfunction]
#[pyo3(signature = (path, threads = None))]
pub fn load(py: Python<'_>, path: PathBuf, threads: Option<usize>) -> PyResult<Model> {
    Model::load_with(py, threads, || neoc_runtime::Model::load(&path))
}

/// Loads an artifact held in memory (`bytes`, `bytearray`, ...), e.g. read from a package
/// resource; the weights are copied. Errors name it `<in-memory artifact>`.
#[pyfunction]
#[pyo3(signature = (data, threads = None))]
pub fn load_bytes(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    threads: Option<usize>,
) -> PyResult<Model> {
    // Other bytes-like objects go through `memoryview(data).tobytes()`: the limited API of
    // Python 3.9 has no buffer protocol.
    let data = match data.cast::<PyBytes>() {
        Ok(b) => b.as_bytes().to_vec(),
        Err(_) => py
            .get_type::<PyMemoryView>()
            .call1((data,))?
            .call_method0("tobytes")?
            .cast_into::<PyBytes>()?
            .as_bytes()
            .to_vec(),
    };
    Model::load_with(py, threads, || neoc_runtime::Model::from_bytes(data))
}

/// A loaded model: immutable, and safe to run from several Python threads at once.
#[pyclass(frozen, module = "neoc")]
#[derive(Debug)]
pub struct Model {
    inner: Arc<neoc_runtime::Model>,
    contexts: ContextPool,
    threads: usize,
}

impl Model {
    /// Runs `load` with the GIL released; its error, or a panic, becomes an exception.
    fn load_with(
        py: Python<'_>,
        threads: Option<usize>,
        load: impl FnOnce() -> neoc_runtime::Result<neoc_runtime::Model> + Send + UnwindSafe,
    ) -> PyResult<Model> {
        let model = match py.detach(|| catch_unwind(load)) {
            Ok(m) => m.map_err(|e| errors::runtime(py, e))?,
            Err(_) => return Err(errors::internal(py, "loading a model")),
        };
        let threads = threads.unwrap_or(0);
        Ok(Model {
            inner: Arc::new(model),
            contexts: ContextPool::new(threads),
            threads,
        })
    }
}

#[pymethods]
impl Model {
    /// Runs the model. `inputs` is a dict {name: array}, a list of arrays in the order of
    /// `inputs`, or one array for a one-input model. Returns {output name: array} in the
    /// order of `outputs`. The GIL is released during the run.
    fn run<'py>(&self, inputs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = inputs.py();
        let given = Inputs::collect(&self.inner, inputs)?;
        let refs = given.refs();
        let model = &*self.inner;
        let pool = &self.contexts;
        let result = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let mut ctx = pool.take(model)?;
                let out = match &refs {
                    Refs::Positional(r) => ctx.run(model, r),
                    Refs::Named(r) => ctx.run_named(model, r),
                };
                pool.give_back(ctx);
                out
            }))
        });
        let outputs = match result {
            Ok(r) => r.map_err(|e| errors::runtime(py, e))?,
            Err(_) => return Err(errors::internal(py, "running a model")),
        };
        let dict = PyDict::new(py);
        for (spec, t) in model.outputs().iter().zip(&outputs) {
            dict.set_item(&spec.name, to_numpy(py, t)?)?;
        }
        Ok(dict)
    }

    /// Checks the weights against the artifact's checksum now (a file's weights are
    /// otherwise checked on the first run, which reads them anyway). Raises neoc.Error
    /// when they are corrupted. The GIL is released meanwhile.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        let model = &*self.inner;
        match py.detach(|| catch_unwind(AssertUnwindSafe(|| model.verify()))) {
            Ok(r) => r.map_err(|e| errors::runtime(py, e)),
            Err(_) => Err(errors::internal(py, "verifying a model")),
        }
    }

    /// The inputs, in signature order.
    #[getter]
    fn inputs(&self) -> Vec<TensorInfo> {
        self.inner.inputs().iter().map(TensorInfo::from).collect()
    }

    /// The outputs, in signature order (the order of `run`'s dict).
    #[getter]
    fn outputs(&self) -> Vec<TensorInfo> {
        self.inner.outputs().iter().map(TensorInfo::from).collect()
    }

    /// The `--target` it was compiled for, e.g. "x86_64".
    #[getter]
    fn target(&self) -> &str {
        &self.inner.target().name
    }

    /// The code variant chosen for this CPU, e.g. "avx2" (None when the plan has no
    /// kernels).
    #[getter]
    fn variant(&self) -> Option<&str> {
        self.inner.variant().map(|v| v.name.as_str())
    }

    /// The key/value metadata stored in the artifact.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.metadata() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The version of neoc that compiled it.
    #[getter]
    fn compiler_version(&self) -> &str {
        self.inner.compiler_version()
    }

    /// The path it was loaded from, as given (`<in-memory artifact>` for `load_bytes`).
    #[getter]
    fn path(&self) -> &str {
        self.inner.file()
    }

    /// Threads per run (0: one per CPU).
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let sig = |specs: &[TensorSpec]| {
            specs
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(format!(
            "<neoc.Model {} target={} variant={} inputs=[{}] outputs=[{}]>",
            PyString::new(py, self.inner.file()).repr()?,
            self.inner.target().name,
            self.variant().unwrap_or("none"),
            sig(self.inner.inputs()),
            sig(self.inner.outputs()),
        ))
    }

    /// Execution contexts kept for reuse (one per run that was ever in flight at once).
    #[getter]
    fn _idle_contexts(&self) -> usize {
        self.contexts.idle()
    }
}

/// An input or output of a model: name, shape and dtype.
#[pyclass(frozen, module = "neoc")]
#[derive(Debug)]
pub struct TensorInfo {
    name: String,
    shape: Vec<u64>,
    dtype: DType,
}

impl From<&TensorSpec> for TensorInfo {
    fn from(s: &TensorSpec) -> Self {
        TensorInfo {
            name: s.name.clone(),
            shape: s.shape.clone(),
            dtype: s.dtype,
        }
    }
}

#[pymethods]
impl TensorInfo {
    /// Its name in the signature.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The static shape.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.shape)
    }

    /// The runtime's name for the element type, e.g. "float32" or "bfloat16".
    #[getter]
    fn r#type(&self) -> &'static str {
        self.dtype.name()
    }

    /// The NumPy dtype of the arrays `run` takes and returns for it (see the dtype table in
    /// docs/embedding.md for the types NumPy lacks).
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDescr>> {
        dtype::numpy_dtype(py, self.dtype)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let shape = PyTuple::new(py, &self.shape)?;
        Ok(format!(
            "TensorInfo(name={}, shape={}, dtype={})",
            PyString::new(py, &self.name).repr()?,
            shape.repr()?,
            self.dtype.name()
        ))
    }
}

/// A fresh NumPy array holding a copy of `t`.
fn to_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let flat = PyArray1::<u8>::from_slice(py, t.as_bytes());
    let shape = PyTuple::new(py, t.shape())?;
    flat.call_method1("view", (dtype::numpy_dtype(py, t.dtype())?,))?
        .call_method1("reshape", (shape,))
}
