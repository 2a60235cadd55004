//! `neoc._neoc`: the native half of the `neoc` Python package, which runs artifacts compiled
//! by neoc (`model.neo`) on NumPy arrays through `neoc-runtime`.
//!
//! ```text
//!   neoc.load(path) ──detach (no GIL)── Model::load ──▶ Model (Arc<runtime Model>, contexts)
//!   Model.run(inputs) ── inputs: dict / list / one array ─▶ borrowed TensorRefs (zero-copy
//!        │                 when C-contiguous, native byte order and of the input's dtype)
//!        ├─ detach (no GIL): take an idle Context (or make one), Context::run, give it back
//!        └─ outputs: one NumPy array each, in signature order, in a dict
//! ```
//!
//! The pure-Python half (`python/neoc/`) holds the exception classes, the type stubs and
//! the `py.typed` marker; `errors.rs` raises its classes with the runtime's messages.

mod contexts;
mod dtype;
mod errors;
mod inputs;
mod model;

use pyo3::prelude::*;

#[pymodule]
fn _neoc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_class::<model::TensorInfo>()?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add_function(wrap_pyfunction!(model::load_bytes, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
