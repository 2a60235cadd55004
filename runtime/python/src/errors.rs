//! Runtime errors as Python exceptions, carrying the runtime's own message.
//!
//! The classes are defined in Python (`python/neoc/_errors.py`) because a Python class can
//! derive from two built-in exceptions (`InputError(Error, ValueError)`,
//! `ModelNotFoundError(Error, FileNotFoundError)`), which is what lets callers catch either
//! the neoc class or the built-in one they already expect.

use std::io;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use neoc_runtime::RuntimeError;

const MODULE: &str = "neoc._errors";

static ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INPUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static NOT_FOUND: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Which Python class a runtime error becomes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `neoc.Error`: the model or the machine was refused.
    Error,
    /// `neoc.InputError`: the inputs do not match the signature.
    Input,
    /// `neoc.ModelNotFoundError`: the file does not exist.
    NotFound,
}

fn kind(e: &RuntimeError) -> Kind {
    match e {
        RuntimeError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            Kind::NotFound
        }
        RuntimeError::InputCount { .. }
        | RuntimeError::InputMismatch { .. }
        | RuntimeError::InputSize { .. }
        | RuntimeError::UnknownInput { .. }
        | RuntimeError::MissingInput { .. }
        | RuntimeError::DuplicateInput { .. } => Kind::Input,
        _ => Kind::Error,
    }
}

/// Raises `kind` with `message`; `filename` is `ModelNotFoundError`'s second argument.
fn raise(py: Python<'_>, kind: Kind, message: String, filename: Option<&str>) -> PyErr {
    let (cell, name) = match kind {
        Kind::Error => (&ERROR, "Error"),
        Kind::Input => (&INPUT_ERROR, "InputError"),
        Kind::NotFound => (&NOT_FOUND, "ModelNotFoundError"),
    };
    match cell.import(py, MODULE, name) {
        Ok(ty) => match filename {
            Some(f) => PyErr::from_type(ty.clone(), (message, f.to_string())),
            None => PyErr::from_type(ty.clone(), (message,)),
        },
        // Only if the package's Python half is missing (a broken install): still raise
        // the runtime's message.
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// The exception for a runtime error: `neoc.Error` or one of its subclasses, with the
/// runtime's message.
pub fn runtime(py: Python<'_>, e: RuntimeError) -> PyErr {
    let kind = kind(&e);
    let filename = match (&e, kind) {
        (RuntimeError::Io { file, .. }, Kind::NotFound) => Some(file.clone()),
        _ => None,
    };
    raise(py, kind, e.to_string(), filename.as_deref())
}

/// `neoc.InputError` with `message`, for input problems found before the runtime sees them.
pub fn input(py: Python<'_>, message: String) -> PyErr {
    raise(py, Kind::Input, message, None)
}

/// `neoc.Error` for a bug in neoc itself (a panic caught at the boundary).
pub fn internal(py: Python<'_>, what: &str) -> PyErr {
    raise(
        py,
        Kind::Error,
        format!("internal error in neoc while {what} (please report it)"),
        None,
    )
}
