//! Many threads run one loaded model at once, each with its own context, through the
//! Rust API and through the C API. Every result must equal the single-threaded run bit
//! for bit, and match the onnxruntime reference within the case's tolerances.
//!
//! (This lives here rather than in runtime/core because it needs a real compiled model,
//! hence neoc-driver and LLVM, which the runtime crate must not depend on, even for tests.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::c_void;
use std::sync::Arc;

use common::*;
use neoc::*;
use neoc_runtime::{Model, TensorRef};

const THREADS: usize = 8;
const RUNS: usize = 10;

#[test]
fn model_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Model>();
}

#[test]
fn many_threads_share_one_model() {
    let dir = model_dir("lenet");
    let (shape, input) = read_f32_npy(&dir.join("inputs/input.npy"));
    let (_, reference) = read_f32_npy(&dir.join("expected/output.npy"));
    let (rtol, atol) = tolerances("lenet");
    let model = Arc::new(Model::load(lenet_artifact()).unwrap());
    let single = model.run(&[TensorRef::f32(&shape, &input)]).unwrap();
    let single = single[0].as_f32().unwrap().to_vec();
    assert_close(&single, &reference, rtol, atol, "single-threaded");

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (model, shape, input) = (Arc::clone(&model), shape.clone(), input.clone());
            // Half the threads split kernels over a pool of their own too.
            let pool = if t % 2 == 0 { 1 } else { 2 };
            std::thread::spawn(move || {
                let mut ctx = model.new_context_with_threads(pool).unwrap();
                (0..RUNS)
                    .map(|_| {
                        let out = ctx.run(&model, &[TensorRef::f32(&shape, &input)]).unwrap();
                        out[0].as_f32().unwrap().to_vec()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (t, h) in handles.into_iter().enumerate() {
        for (r, got) in h.join().unwrap().iter().enumerate() {
            assert_eq!(
                got, &single,
                "thread {t} run {r} differs from the single-threaded run"
            );
            assert_close(got, &reference, rtol, atol, &format!("thread {t} run {r}"));
        }
    }
}

/// A `neoc_model*` shared between threads (the C API's contract allows it).
struct Shared(*mut NeocModel);
// SAFETY: a neoc_model is an immutable, Sync Model; the C API documents sharing it.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

#[test]
fn many_threads_share_one_c_model() {
    let dir = model_dir("lenet");
    let (_, input) = read_f32_npy(&dir.join("inputs/input.npy"));
    let (_, reference) = read_f32_npy(&dir.join("expected/output.npy"));
    let (rtol, atol) = tolerances("lenet");
    let path = std::ffi::CString::new(lenet_artifact().display().to_string()).unwrap();
    let mut m = std::ptr::null_mut();
    // SAFETY: valid C string and out pointer.
    assert_eq!(
        unsafe { neoc_model_load(path.as_ptr(), &mut m) },
        NeocStatus::Ok
    );
    let shared = Arc::new(Shared(m));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (shared, input, n) = (Arc::clone(&shared), input.clone(), reference.len());
            std::thread::spawn(move || {
                let m = shared.0;
                let mut ctx = std::ptr::null_mut();
                // SAFETY: live model, valid out pointer.
                assert_eq!(unsafe { neoc_context_new(m, 1, &mut ctx) }, NeocStatus::Ok);
                let mut results = Vec::new();
                for _ in 0..RUNS {
                    let mut out = vec![0f32; n];
                    let ins = [input.as_ptr().cast::<c_void>()];
                    let in_sizes = [input.len() * 4];
                    let outs = [out.as_mut_ptr().cast::<c_void>()];
                    let out_sizes = [n * 4];
                    // SAFETY: every array holds one element, each buffer its stated size.
                    let s = unsafe {
                        neoc_run(
                            ctx,
                            m,
                            ins.as_ptr(),
                            in_sizes.as_ptr(),
                            1,
                            outs.as_ptr(),
                            out_sizes.as_ptr(),
                            1,
                        )
                    };
                    assert_eq!(s, NeocStatus::Ok);
                    results.push(out);
                }
                // SAFETY: made by neoc_context_new, freed once.
                unsafe { neoc_context_free(ctx) };
                results
            })
        })
        .collect();
    let all: Vec<Vec<f32>> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // SAFETY: all threads are joined; freed once.
    unsafe { neoc_model_free(shared.0) };
    for (i, got) in all.iter().enumerate() {
        assert_eq!(got, &all[0], "C run {i} differs from the first");
        assert_close(got, &reference, rtol, atol, &format!("C run {i}"));
    }
}
