//! The CUDA executor: runs artifacts compiled for `cuda-smNN` targets on an NVIDIA GPU.
//!
//! ```text
//! model.neo ──neoc_artifact::parse──▶ PTX checks (ptx.rs, no GPU needed)
//!      ──libcuda.so.1 (driver.rs, loaded at run time)──▶ primary context, JIT the PTX,
//!      upload weights once, one device arena ──▶ CudaModel::run: inputs in, the plan's
//!      kernels on one stream, outputs out
//! ```
//!
//! Building it needs no CUDA toolkit: the driver library is opened with `libloading` when
//! a model is loaded, and its absence is a [`CudaError::NoDriver`], never a panic. The
//! CPU runtime (`neoc-runtime`) does not depend on this crate; the `neoc` CLI picks it for
//! CUDA artifacts. `docs/cuda.md` describes the whole CUDA path.
//!
//! ```no_run
//! use neoc_cuda::CudaModel;
//! use neoc_runtime::TensorRef;
//! let mut model = CudaModel::load("resnet50-sm90.neo")?;
//! let x = vec![0f32; 3 * 224 * 224];
//! let out = model.run(&[TensorRef::f32(&[1, 3, 224, 224], &x)])?;
//! # Ok::<(), neoc_cuda::CudaError>(())
//! ```

mod driver;
mod error;
mod model;
pub mod npy;
pub mod ptx;

pub use driver::CUDA_LIBRARY_ENV;
pub use error::{CudaError, Result};
pub use model::{check_bytes, CudaModel, CUDA_DEVICE_ENV, CUDA_GRAPHS_ENV};

/// Whether a CUDA driver and at least one GPU are present, or why not (for tests and
/// tools that skip GPU work with a message).
pub fn gpu_available() -> std::result::Result<String, CudaError> {
    let d = driver::Driver::load()?;
    let info = d.device(0)?;
    Ok(format!(
        "{} (compute capability {}.{}, driver CUDA {}.{})",
        info.name,
        info.sm / 10,
        info.sm % 10,
        info.driver_version / 1000,
        info.driver_version % 1000 / 10
    ))
}
