//! The neoc runtime: loads a compiled artifact and runs it. No compiler, no LLVM.
//!
//! ```text
//!   Model::load(path) ── mmap ── Artifact::parse (validate all) ── arch check
//!        │                                  └─ pick best code variant for this CPU
//!        │                                     └─ memfd + dlopen, resolve kernels
//!        ▼
//!   Model (immutable, Send + Sync) ──new_context()──▶ Context (arena)
//!                                                      └─ run(inputs) ─▶ outputs
//!                                                          check signature, then call each
//!                                                          plan step's kernel in order
//! ```
//!
//! Kernel ABI: `void kernel(void **args, int64_t task, int64_t ntasks)`; `args[i]` points
//! at the step's i-th buffer. Arena, output and weight pointers are 64-byte aligned; input
//! pointers are aligned for their dtype (misaligned caller data is copied). Kernels write
//! only outputs and the arena.
//!
//! See `docs/runtime.md` for the thread-safety contract and environment variables.
//!
//! # Example
//!
//! Load an artifact, run it on a typed input, read the typed output. The examples in
//! these docs load `testmodels/artifacts/mlp_x86_64.neo` (a two-layer MLP compiled for
//! `x86_64`, committed with the script that regenerates it) and check the result against
//! onnxruntime's output for the same input, stored beside the source model.
//!
//! ```
//! use neoc_runtime::{Model, TensorRef};
//! # fn npy(rel: &str) -> Vec<f32> {
//! #     let path = format!("{}/../../testmodels/models/mlp/{rel}", env!("CARGO_MANIFEST_DIR"));
//! #     let bytes = std::fs::read(&path).expect(&path);
//! #     npyz::NpyFile::new(&bytes[..]).and_then(|f| f.into_vec()).expect(&path)
//! # }
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
//! let model = Model::load(path)?; // mmap, validate, pick this CPU's code variant
//! assert_eq!(model.inputs()[0].type_string(), "float32[4,64]");
//!
//! let x: Vec<f32> = npy("inputs/input.npy"); // 4 x 64 values
//! let outputs = model.run(&[TensorRef::from_slice(&[4, 64], &x)])?;
//! let y: &[f32] = outputs[0].as_slice().expect("a float32 output");
//! assert_eq!(outputs[0].shape(), [4, 10]);
//!
//! // onnxruntime's output for the same input, within the case's tolerances.
//! let want = npy("expected/output.npy");
//! assert_eq!(y.len(), want.len());
//! for (got, want) in y.iter().zip(want) {
//!     assert!((got - want).abs() <= 1e-5 + 1e-4 * want.abs(), "{got} vs {want}");
//! }
//! # Ok::<(), neoc_runtime::RuntimeError>(())
//! ```
//!
//! # Threads
//!
//! A [`Model`] is immutable, `Send` and `Sync` (checked at compile time below): load it
//! once and share it, by reference or in an `Arc`. Each thread runs it through its own
//! [`Context`] (the scratch memory of a run); `Context::run` takes `&mut self`, so one
//! context cannot serve two runs at once.
//!
//! ```
//! # use neoc_runtime::{Model, TensorRef};
//! # fn npy(rel: &str) -> Vec<f32> {
//! #     let path = format!("{}/../../testmodels/models/mlp/{rel}", env!("CARGO_MANIFEST_DIR"));
//! #     let bytes = std::fs::read(&path).expect(&path);
//! #     npyz::NpyFile::new(&bytes[..]).and_then(|f| f.into_vec()).expect(&path)
//! # }
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testmodels/artifacts/mlp_x86_64.neo");
//! let model = Model::load(path)?;
//! let (x, want) = (npy("inputs/input.npy"), npy("expected/output.npy"));
//! std::thread::scope(|s| {
//!     let threads: Vec<_> = (0..4)
//!         .map(|_| {
//!             s.spawn(|| {
//!                 let mut ctx = model.new_context()?; // one per thread, reused across runs
//!                 for _ in 0..3 {
//!                     let out = ctx.run(&model, &[TensorRef::f32(&[4, 64], &x)])?;
//!                     let y = out[0].as_f32().unwrap_or_default();
//!                     assert_eq!(y.len(), want.len());
//!                     for (g, w) in y.iter().zip(&want) {
//!                         assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "{g} vs {w}");
//!                     }
//!                 }
//!                 Ok(())
//!             })
//!         })
//!         .collect();
//!     threads.into_iter().try_for_each(|t| t.join().expect("no thread panicked"))
//! })?;
//! # Ok::<(), neoc_runtime::RuntimeError>(())
//! ```
//!
//! # Copies
//!
//! Inputs are borrowed ([`TensorRef`]) and read in place when their data is aligned for
//! its element type, which any `&[f32]` (or other [`Element`] slice) is; misaligned
//! bytes given through [`TensorRef::new`] are copied once. Weights are used in place from
//! the mapped file. [`Context::run`] returns outputs as owned, 64-byte-aligned
//! [`Tensor`]s, typed through [`Tensor::as_slice`]; [`Context::run_into`] writes them into
//! the caller's buffers instead ([`TensorMut`]), in place when they are 64-byte aligned
//! (a `Tensor` kept across runs is), through one copy otherwise.

mod code;
mod cpu;
mod error;
mod model;
mod pool;
mod tensor;

pub use cpu::{aarch64_hwcap_features, host_cpu_features, CPU_FEATURES_MASK_ENV};
pub use error::{Result, RuntimeError};
pub use model::{Context, Model, SelectedVariant};
pub use neoc_artifact::{Arch, DType, TargetInfo, TensorSpec};
pub use tensor::{Element, Tensor, TensorMut, TensorRef, BUFFER_ALIGN};

// What the "Threads" section promises, checked when the crate compiles.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Model>();
    send_sync::<Tensor>();
    send_sync::<RuntimeError>();
    send::<Context>();
};
