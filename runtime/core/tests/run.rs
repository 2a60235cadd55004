//! End-to-end tests: hand-built artifacts with real compiled kernels.

// Test helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use neoc_artifact::{CodeVariant, DType};
use neoc_runtime::{Model, RuntimeError, Tensor, TensorRef};

macro_rules! require_cc {
    () => {
        match kernels_so() {
            Some(so) => so,
            None => return,
        }
    };
}

fn load_from_file(bytes: &[u8], name: &str) -> (std::path::PathBuf, Result<Model, RuntimeError>) {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    let m = Model::load(&path);
    (path, m)
}

#[test]
fn runs_from_bytes_and_from_file() {
    let so = require_cc!();
    let bytes = artifact(so).to_bytes();
    let m = Model::from_bytes(bytes.clone()).unwrap();
    assert_eq!(m.variant().unwrap().name, "generic");
    let out = m.run(&[TensorRef::f32(&[1, 4], &X)]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].shape(), &[1, 4]);
    assert_eq!(out[0].dtype(), DType::F32);
    assert_eq!(out[0].as_f32().unwrap(), &Y);

    let (path, m) = load_from_file(&bytes, "ok.neo");
    let m = m.unwrap();
    assert_eq!(m.path(), Some(path.as_path()));
    let out = m.run(&[TensorRef::f32(&[1, 4], &X)]).unwrap();
    assert_eq!(out[0].as_f32().unwrap(), &Y);
    assert_eq!(m.metadata()[0].1, "hand-built");
}

#[test]
fn context_reuse_and_run_named() {
    let so = require_cc!();
    let m = Model::from_bytes(artifact(so).to_bytes()).unwrap();
    let mut ctx = m.new_context().unwrap();
    for k in 0..5 {
        let x: Vec<f32> = X.iter().map(|v| v + k as f32).collect();
        let input = Tensor::from_f32(vec![1, 4], x).unwrap();
        let out = ctx.run(&m, &[input.view()]).unwrap();
        let want: Vec<f32> = Y.iter().map(|v| v + k as f32).collect();
        assert_eq!(out[0].as_f32().unwrap(), want.as_slice());
    }
    let out = ctx
        .run_named(&m, &[("x", TensorRef::f32(&[1, 4], &X))])
        .unwrap();
    assert_eq!(out[0].as_f32().unwrap(), &Y);
    let err = m
        .run_named(&[("nope", TensorRef::f32(&[1, 4], &X))])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory artifact>: no input named \"nope\" (inputs: x)"
    );
    let err = m.run_named(&[]).unwrap_err();
    assert!(matches!(err, RuntimeError::MissingInput { ref input, .. } if input == "x"));
    let x = TensorRef::f32(&[1, 4], &X);
    let err = m.run_named(&[("x", x), ("x", x)]).unwrap_err();
    assert!(matches!(err, RuntimeError::DuplicateInput { .. }));
}

#[test]
fn misaligned_input_is_copied() {
    let so = require_cc!();
    let m = Model::from_bytes(artifact(so).to_bytes()).unwrap();
    let mut raw = [0u8; 17];
    let off = if raw.as_ptr() as usize % 4 == 0 { 1 } else { 0 };
    for (i, v) in X.iter().enumerate() {
        raw[off + 4 * i..off + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    let t = TensorRef::new(DType::F32, &[1, 4], &raw[off..off + 16]);
    assert_ne!(t.data.as_ptr() as usize % 4, 0);
    let out = m.run(&[t]).unwrap();
    assert_eq!(out[0].as_f32().unwrap(), &Y);
}

#[test]
fn input_signature_errors() {
    let so = require_cc!();
    let mut a = artifact(so);
    a.inputs[0].name = "input".into();
    let m = Model::from_bytes(a.to_bytes()).unwrap();

    let err = m.run(&[TensorRef::f32(&[1, 5], &[0.0; 5])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory artifact>: input \"input\": expected float32[1,4], got float32[1,5]"
    );
    let ints = [1i32, 2, 3, 4];
    let err = m.run(&[TensorRef::from_slice(&[1, 4], &ints)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory artifact>: input \"input\": expected float32[1,4], got int32[1,4]"
    );
    let err = m.run(&[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory artifact>: expected 1 inputs, got 0"
    );
    let err = m.run(&[TensorRef::f32(&[1, 4], &X[..3])]).unwrap_err();
    assert!(matches!(
        err,
        RuntimeError::InputSize {
            expected: 16,
            found: 12,
            ..
        }
    ));
}

#[test]
fn forged_feature_is_refused_or_skipped() {
    let so = require_cc!();
    let fake = |so: &Vec<u8>| CodeVariant {
        name: "future".into(),
        cpu: "future-cpu".into(),
        required_features: vec!["neoc-test-nonexistent".into()],
        code: so.clone(),
    };
    // Only the forged variant: refused, naming the file and the feature.
    let mut a = artifact(so.clone());
    a.variants = vec![fake(&so)];
    let (path, m) = load_from_file(&a.to_bytes(), "model.neo");
    let err = m.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RuntimeError::MissingCpuFeatures { .. }));
    assert!(
        msg.starts_with(&format!(
            "{} needs CPU features neoc-test-nonexistent which this CPU lacks (it has ",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("recompile"), "{msg}");

    // Forged variant first, then a generic one: the generic one is chosen.
    let mut a = artifact(so.clone());
    a.variants.insert(0, fake(&so));
    let m = Model::from_bytes(a.to_bytes()).unwrap();
    let v = m.variant().unwrap();
    assert_eq!((v.index, v.name.as_str()), (1, "generic"));
    assert_eq!(
        m.run(&[TensorRef::f32(&[1, 4], &X)]).unwrap()[0]
            .as_f32()
            .unwrap(),
        &Y
    );
}

#[test]
fn first_supported_variant_wins() {
    let so = require_cc!();
    let mut a = artifact(so.clone());
    let mut second = a.variants[0].clone();
    second.name = "second".into();
    a.variants.push(second);
    let m = Model::from_bytes(a.to_bytes()).unwrap();
    assert_eq!(m.variant().unwrap().index, 0);
}

#[test]
fn wrong_arch_is_refused() {
    let so = require_cc!();
    let mut a = artifact(so);
    a.target.arch = other_arch();
    a.target.name = format!("{}-test", other_arch());
    let (path, m) = load_from_file(&a.to_bytes(), "other.neo");
    let err = m.unwrap_err();
    assert!(matches!(err, RuntimeError::WrongArch { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{} was compiled for target {}-test ({}), but this machine is {}; recompile it for {}",
            path.display(),
            other_arch(),
            other_arch(),
            std::env::consts::ARCH,
            std::env::consts::ARCH
        )
    );
}

#[test]
fn missing_symbol_is_named() {
    let so = require_cc!();
    let mut a = artifact(so);
    a.plan.kernels[1].symbol = "conv_fused_7".into();
    let err = Model::from_bytes(a.to_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory artifact>: code variant \"generic\" does not export kernel conv_fused_7"
    );
}

#[test]
fn non_elf_code_is_refused() {
    let err = Model::from_bytes(artifact(b"not elf".to_vec()).to_bytes()).unwrap_err();
    assert!(matches!(err, RuntimeError::BadCode { .. }), "{err}");
}

#[test]
fn truncated_and_corrupted_files_are_clean_errors() {
    let bytes = artifact(b"\x7fELF fake".to_vec()).to_bytes();
    for n in [0, 5, 63, 64, 100, bytes.len() / 2, bytes.len() - 1] {
        let (path, m) = load_from_file(&bytes[..n], "trunc.neo");
        let err = m.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg == format!(
                "{}: truncated: expected {} bytes, found {n}",
                path.display(),
                bytes.len()
            ) || (n < 64
                && msg
                    == format!(
                        "{}: truncated: expected 64 bytes, found {n}",
                        path.display()
                    )),
            "{msg}"
        );
    }
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xFF; // inside WEIGHTS, the last section
    let err = Model::from_bytes(bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("checksum mismatch in section WEIGHTS"),
        "{err}"
    );
    let err = Model::load(scratch_dir().join("does-not-exist.neo")).unwrap_err();
    assert!(matches!(err, RuntimeError::Io { .. }));
    let err = Model::from_bytes(b"PK\x03\x04 a zip file, not a model".to_vec()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory artifact>: not a neoc artifact (bad magic)"
    );
}

#[test]
fn model_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Model>();
    assert_send_sync::<Tensor>();
    assert_send::<neoc_runtime::Context>();
    assert_send_sync::<RuntimeError>();
}

#[test]
fn concurrent_runs() {
    let so = require_cc!();
    let m = Arc::new(Model::from_bytes(artifact(so).to_bytes()).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                let mut ctx = m.new_context().unwrap();
                for k in 0..200 {
                    let base = (t * 1000 + k) as f32;
                    let x: Vec<f32> = X.iter().map(|v| v + base).collect();
                    let out = if k % 2 == 0 {
                        ctx.run(&m, &[TensorRef::f32(&[1, 4], &x)]).unwrap()
                    } else {
                        m.run(&[TensorRef::f32(&[1, 4], &x)]).unwrap()
                    };
                    let want: Vec<f32> = Y.iter().map(|v| v + base).collect();
                    assert_eq!(out[0].as_f32().unwrap(), want.as_slice());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn two_models_get_their_own_code() {
    // Two loads of the same code, dropped and reloaded: each must resolve and run.
    let so = require_cc!();
    for _ in 0..3 {
        let a = Model::from_bytes(artifact(so.clone()).to_bytes()).unwrap();
        let b = Model::from_bytes(artifact(so.clone()).to_bytes()).unwrap();
        assert_eq!(
            a.run(&[TensorRef::f32(&[1, 4], &X)]).unwrap()[0]
                .as_f32()
                .unwrap(),
            &Y
        );
        drop(a);
        assert_eq!(
            b.run(&[TensorRef::f32(&[1, 4], &X)]).unwrap()[0]
                .as_f32()
                .unwrap(),
            &Y
        );
    }
}

#[test]
fn tensor_helpers() {
    let t = Tensor::from_f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(t.as_bytes().as_ptr() as usize % 64, 0);
    assert_eq!(t.len(), 4);
    assert!(t.as_slice::<i32>().is_none());
    let err = Tensor::from_f32(vec![2, 3], vec![1.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor float32[2,3] needs 24 bytes of data, got 4"
    );
    let z = Tensor::zeros(DType::I64, vec![0, 3]).unwrap();
    assert!(z.is_empty());
    let b = Tensor::from_bytes(DType::U8, vec![3], &[1, 2, 3]).unwrap();
    assert_eq!(b.clone().as_slice::<u8>().unwrap(), &[1, 2, 3]);
    assert!(Tensor::zeros(DType::F32, vec![u64::MAX, 2]).is_err());
}
