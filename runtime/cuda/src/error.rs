//! Errors of the CUDA executor. Each names the model file where one is involved; none
//! is a panic.

use neoc_artifact::ArtifactError;

/// Everything that can go wrong loading or running a CUDA artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CudaError {
    /// Environment: the NVIDIA driver library is not installed (or is not a CUDA driver).
    #[error(
        "no CUDA driver: cannot load {library}: {reason}. A CUDA artifact needs an NVIDIA GPU \
         with its driver installed (set NEOC_CUDA_LIBRARY to the path of libcuda.so.1 if it \
         is not on the loader path), or recompile the model for a CPU target"
    )]
    NoDriver { library: String, reason: String },
    /// Environment: the driver is present but there is no usable GPU.
    #[error("no CUDA GPU: the NVIDIA driver is installed but {detail}")]
    NoDevice { detail: String },
    /// A driver call failed.
    #[error("CUDA driver call {call} failed: {name} ({code})")]
    Driver {
        call: &'static str,
        code: i32,
        name: String,
    },
    /// The driver could not JIT-compile the PTX.
    #[error("the CUDA driver cannot load the model's PTX: {driver}; JIT log: {log}")]
    Jit { driver: String, log: String },
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {source}")]
    Artifact {
        file: String,
        #[source]
        source: Box<ArtifactError>,
    },
    /// Bad input: a CPU artifact given to the CUDA executor.
    #[error(
        "{file} was compiled for the CPU target {target} ({arch}); the CUDA executor runs \
         artifacts of CUDA targets (neoc targets lists them, e.g. cuda-sm90)"
    )]
    NotCuda {
        file: String,
        target: String,
        arch: String,
    },
    /// Bad input: the code section is not the PTX this executor expects.
    #[error("{file}: code variant {variant:?} is not valid neoc PTX: {reason}")]
    BadPtx {
        file: String,
        variant: String,
        reason: String,
    },
    /// Bad input: the GPU is older than the artifact's architecture.
    #[error(
        "{file} needs a GPU of compute capability {need_major}.{need_minor} or newer \
         ({variant}); {device} is {has_major}.{has_minor}: recompile with --target \
         cuda-sm{has_major}{has_minor}"
    )]
    ComputeCapability {
        file: String,
        variant: String,
        need_major: u32,
        need_minor: u32,
        device: String,
        has_major: u32,
        has_minor: u32,
    },
    #[error("{file}: expected {expected} inputs, got {got}")]
    InputCount {
        file: String,
        expected: usize,
        got: usize,
    },
    #[error("{file}: input {name:?}: expected {expected}, got {got}")]
    InputMismatch {
        file: String,
        name: String,
        expected: String,
        got: String,
    },
    #[error("{file}: input {name:?}: {ty} needs {need} bytes of data, got {got}")]
    InputSize {
        file: String,
        name: String,
        ty: String,
        need: u64,
        got: usize,
    },
    /// The plan is too large for this machine's address space.
    #[error("{file}: {what} of {bytes} bytes does not fit in memory")]
    TooLarge {
        file: String,
        what: &'static str,
        bytes: u64,
    },
    /// Output tensor construction failed.
    #[error("{0}")]
    Runtime(#[from] neoc_runtime::RuntimeError),
}

/// Result alias of this crate.
pub type Result<T, E = CudaError> = std::result::Result<T, E>;
