//! The C API's contract, called from Rust: signature queries, a run checked against the
//! onnxruntime reference, and every failure path returning a status and a message
//! (NULL pointers, bad indices, wrong sizes, damaged artifacts) instead of crashing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};

use common::*;
use neoc::*;

fn last_error() -> String {
    // SAFETY: neoc_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(neoc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn load() -> *mut NeocModel {
    let path = CString::new(lenet_artifact().display().to_string()).unwrap();
    let mut m = null_mut();
    // SAFETY: valid C string and out pointer.
    assert_eq!(
        unsafe { neoc_model_load(path.as_ptr(), &mut m) },
        NeocStatus::Ok
    );
    assert!(!m.is_null());
    m
}

#[test]
fn signature_queries() {
    let m = load();
    let (mut n_in, mut n_out, mut rank, mut dtype, mut size) = (0, 0, 0, 0, 0);
    let mut name: *const c_char = null();
    let mut dims = [0u64; 4];
    // SAFETY: live model and valid out pointers throughout.
    unsafe {
        assert_eq!(
            neoc_model_tensor_count(m, NEOC_IO_INPUT, &mut n_in),
            NeocStatus::Ok
        );
        assert_eq!(
            neoc_model_tensor_count(m, NEOC_IO_OUTPUT, &mut n_out),
            NeocStatus::Ok
        );
        assert_eq!((n_in, n_out), (1, 1));
        assert_eq!(
            neoc_model_tensor_name(m, NEOC_IO_INPUT, 0, &mut name),
            NeocStatus::Ok
        );
        assert_eq!(CStr::from_ptr(name).to_str().unwrap(), "input");
        assert_eq!(
            neoc_model_tensor_dtype(m, NEOC_IO_INPUT, 0, &mut dtype),
            NeocStatus::Ok
        );
        assert_eq!(dtype, 1, "float32");
        assert_eq!(
            neoc_model_tensor_rank(m, NEOC_IO_INPUT, 0, &mut rank),
            NeocStatus::Ok
        );
        assert_eq!(rank, 4);
        let s = neoc_model_tensor_dims(m, NEOC_IO_INPUT, 0, dims.as_mut_ptr(), 4);
        assert_eq!(s, NeocStatus::Ok);
        assert_eq!(dims, [2, 1, 28, 28]);
        let s = neoc_model_tensor_dims(m, NEOC_IO_INPUT, 0, dims.as_mut_ptr(), 3);
        assert_eq!(s, NeocStatus::BufferTooSmall);
        assert!(last_error().contains("rank 4"), "{}", last_error());
        assert_eq!(
            neoc_model_tensor_byte_size(m, NEOC_IO_OUTPUT, 0, &mut size),
            NeocStatus::Ok
        );
        assert_eq!(size, 2 * 10 * 4);
        // Bad io kind and index.
        assert_eq!(
            neoc_model_tensor_count(m, 7, &mut n_in),
            NeocStatus::InvalidArgument
        );
        assert!(last_error().contains("NEOC_IO_INPUT"), "{}", last_error());
        assert_eq!(
            neoc_model_tensor_rank(m, NEOC_IO_OUTPUT, 1, &mut rank),
            NeocStatus::InvalidArgument
        );
        assert!(last_error().contains("out of range"), "{}", last_error());
        // NULL handles and out pointers.
        assert_eq!(
            neoc_model_tensor_count(null(), 0, &mut n_in),
            NeocStatus::NullPointer
        );
        assert_eq!(
            neoc_model_tensor_count(m, 0, null_mut()),
            NeocStatus::NullPointer
        );
        assert_eq!(last_error(), "out is NULL");
        neoc_model_free(m);
        neoc_model_free(null_mut());
        neoc_context_free(null_mut());
    }
}

#[test]
fn run_matches_reference_and_refuses_bad_buffers() {
    let dir = model_dir("lenet");
    let (_, input) = read_f32_npy(&dir.join("inputs/input.npy"));
    let (_, reference) = read_f32_npy(&dir.join("expected/output.npy"));
    let (rtol, atol) = tolerances("lenet");
    let m = load();
    let mut ctx = null_mut();
    let mut out = vec![0f32; reference.len()];
    // SAFETY: live handles; every array and buffer has the length passed with it.
    unsafe {
        assert_eq!(neoc_context_new(m, 1, &mut ctx), NeocStatus::Ok);
        let ins = [input.as_ptr().cast::<c_void>()];
        let outs = [out.as_mut_ptr().cast::<c_void>()];
        let run = |in_size: usize, out_size: usize, n_in: usize| {
            neoc_run(
                ctx,
                m,
                ins.as_ptr(),
                [in_size].as_ptr(),
                n_in,
                outs.as_ptr(),
                [out_size].as_ptr(),
                1,
            )
        };
        assert_eq!(run(input.len() * 4, reference.len() * 4, 1), NeocStatus::Ok);
        assert_eq!(
            run(input.len() * 4 - 4, reference.len() * 4, 1),
            NeocStatus::Run
        );
        assert!(last_error().contains("input"), "{}", last_error());
        assert_eq!(
            run(input.len() * 4, reference.len() * 4 - 1, 1),
            NeocStatus::BufferTooSmall
        );
        assert_eq!(
            run(input.len() * 4, reference.len() * 4, 2),
            NeocStatus::InvalidArgument
        );
        let s = neoc_run(ctx, m, null(), null(), 1, null(), null(), 1);
        assert_eq!(s, NeocStatus::NullPointer);
        let s = neoc_run(null_mut(), m, null(), null(), 1, null(), null(), 1);
        assert_eq!(s, NeocStatus::NullPointer);
        assert_eq!(last_error(), "ctx is NULL");
        neoc_context_free(ctx);
        neoc_model_free(m);
    }
    assert_close(&out, &reference, rtol, atol, "C API run");
}

#[test]
fn load_failures_are_statuses() {
    let bytes = std::fs::read(lenet_artifact()).unwrap();
    let mut m = null_mut();
    // SAFETY: valid pointers and lengths throughout; loaded models are freed once.
    unsafe {
        assert_eq!(
            neoc_model_load_bytes(bytes.as_ptr(), bytes.len(), &mut m),
            NeocStatus::Ok
        );
        neoc_model_free(m);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            let mut m = null_mut();
            let s = neoc_model_load_bytes(bytes.as_ptr(), cut, &mut m);
            assert_eq!(s, NeocStatus::Load, "truncated to {cut}");
            assert!(m.is_null());
            assert!(!last_error().is_empty());
        }
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 3;
        damaged[mid] ^= 0xff;
        let s = neoc_model_load_bytes(damaged.as_ptr(), damaged.len(), &mut m);
        assert_eq!(s, NeocStatus::Load);
        let missing = CString::new("/nonexistent/model.neo").unwrap();
        assert_eq!(neoc_model_load(missing.as_ptr(), &mut m), NeocStatus::Load);
        assert!(
            last_error().contains("/nonexistent/model.neo"),
            "{}",
            last_error()
        );
        assert_eq!(neoc_model_load(null(), &mut m), NeocStatus::NullPointer);
        assert_eq!(
            neoc_model_load(missing.as_ptr(), null_mut()),
            NeocStatus::NullPointer
        );
        assert_eq!(
            neoc_model_load_bytes(null(), 5, &mut m),
            NeocStatus::NullPointer
        );
        let version = CStr::from_ptr(neoc_version()).to_str().unwrap();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
    }
}

#[test]
fn corrupted_weights_of_a_file_fail_verify() {
    let mut bytes = std::fs::read(lenet_artifact()).unwrap();
    let last = bytes.len() - 1; // inside WEIGHTS, the last section
    bytes[last] ^= 0x40;
    let path = std::env::temp_dir().join(format!("neoc-capi-flipped-{}.neo", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let c_path = CString::new(path.display().to_string()).unwrap();
    let mut m = null_mut();
    // SAFETY: valid pointers; the model is freed once.
    unsafe {
        // A file's weights are not read at load...
        assert_eq!(neoc_model_load(c_path.as_ptr(), &mut m), NeocStatus::Ok);
        // ...and verify (or the first run) refuses them.
        assert_eq!(neoc_model_verify(m), NeocStatus::Load);
        assert!(
            last_error().contains("checksum mismatch in section WEIGHTS"),
            "{}",
            last_error()
        );
        assert_eq!(neoc_model_verify(null()), NeocStatus::NullPointer);
        neoc_model_free(m);
        let good = load();
        assert_eq!(neoc_model_verify(good), NeocStatus::Ok);
        neoc_model_free(good);
    }
    let _ = std::fs::remove_file(path);
}
