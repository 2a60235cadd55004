//! The one error type of the runtime. Every variant is a *bad input* (a file, a machine or
//! a call the runtime must refuse) unless its doc says *internal bug*. Variants name the
//! model by `file`: the path it was loaded from, or `<in-memory artifact>`.

use std::io;

use neoc_artifact::{Arch, ArtifactError};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Bad input: the file could not be opened, read or mapped.
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },

    /// Bad input: the file is not a valid artifact (bad magic, version, truncated,
    /// corrupted, inconsistent plan).
    #[error("{file}: {source}")]
    Artifact {
        file: String,
        #[source]
        source: Box<ArtifactError>,
    },

    /// Bad input: the artifact was compiled for another architecture.
    #[error(
        "{file} was compiled for target {target} ({arch}), but this machine is {host}; \
         recompile it for {host}"
    )]
    WrongArch {
        file: String,
        target: String,
        arch: Arch,
        host: &'static str,
    },

    /// Bad input: a CUDA artifact (PTX), which this CPU runtime does not run.
    #[error(
        "{file} was compiled for the CUDA target {target}: the CPU runtime cannot run it; \
         use the CUDA executor (crate neoc-cuda; `neoc run` and `neoc bench` pick it for CUDA \
         artifacts) or recompile for a CPU target"
    )]
    CudaArtifact { file: String, target: String },

    /// Bad input: no code variant runs on this CPU. `missing` lists what the least
    /// demanding variant needs and the CPU lacks; `available` what the CPU has.
    #[error(
        "{file} needs CPU features {} which this CPU lacks (it has {}); {}",
        .missing.join(", "),
        if .available.is_empty() { "none of the known features".to_string() } else { .available.join(", ") },
        match .suggestion {
            Some(t) => format!("recompile with --target {t}"),
            None => "recompile for a target this CPU supports".to_string(),
        }
    )]
    MissingCpuFeatures {
        file: String,
        variant: String,
        missing: Vec<String>,
        available: Vec<String>,
        suggestion: Option<String>,
    },

    /// Bad input: the chosen code variant is not a loadable shared object.
    #[error("{file}: cannot load code variant \"{variant}\": {reason}")]
    BadCode {
        file: String,
        variant: String,
        reason: String,
    },

    /// Bad input: the chosen code variant does not export a kernel the plan calls.
    #[error("{file}: code variant \"{variant}\" does not export kernel {symbol}")]
    MissingSymbol {
        file: String,
        variant: String,
        symbol: String,
    },

    /// Bad input: a run got the wrong number of inputs.
    #[error("{file}: expected {expected} inputs, got {found}")]
    InputCount {
        file: String,
        expected: usize,
        found: usize,
    },

    /// Bad input: an input's dtype or shape differs from the signature.
    #[error("{file}: input \"{input}\": expected {expected}, got {found}")]
    InputMismatch {
        file: String,
        input: String,
        expected: String,
        found: String,
    },

    /// Bad input: an input's data has the wrong number of bytes for its dtype and shape.
    #[error("{file}: input \"{input}\": {ty} needs {expected} bytes of data, got {found}")]
    InputSize {
        file: String,
        input: String,
        ty: String,
        expected: u64,
        found: u64,
    },

    /// Bad input: `run_into` got the wrong number of output buffers.
    #[error("{file}: expected {expected} output buffers, got {found}")]
    OutputCount {
        file: String,
        expected: usize,
        found: usize,
    },

    /// Bad input: a `run_into` output buffer's dtype, shape or byte length differs from
    /// the signature.
    #[error("{file}: output \"{output}\": expected a buffer of {expected}, got {found}")]
    OutputMismatch {
        file: String,
        output: String,
        expected: String,
        found: String,
    },

    /// Bad input: `run_named` got a name the signature does not have.
    #[error("{file}: no input named \"{input}\" (inputs: {})", .known.join(", "))]
    UnknownInput {
        file: String,
        input: String,
        known: Vec<String>,
    },

    /// Bad input: `run_named` did not get a value for this input.
    #[error("{file}: input \"{input}\" is missing")]
    MissingInput { file: String, input: String },

    /// Bad input: `run_named` got two values for this input.
    #[error("{file}: input \"{input}\" is given twice")]
    DuplicateInput { file: String, input: String },

    /// Bad input: tensor data of the wrong size for its dtype and shape.
    #[error("tensor {ty} needs {expected} bytes of data, got {found}")]
    TensorSize {
        ty: String,
        expected: u64,
        found: u64,
    },

    /// Bad input: a buffer larger than this machine can address.
    #[error("{what} of {bytes} bytes is too large for this machine")]
    TooLarge { what: String, bytes: u64 },

    /// Bad input (for this machine): an allocation failed.
    #[error("out of memory allocating {bytes} bytes")]
    OutOfMemory { bytes: u64 },
}

/// Result alias for this crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
