//! The CUDA executor on machines without a GPU (CI) and, when one is present, on the GPU.
//!
//! Without a GPU: CUDA artifacts of the test models pass the executor's checks (format,
//! PTX, entries, launch sizes); loading one reports a missing driver or GPU clearly
//! instead of panicking; the CPU runtime and the CUDA executor refuse each other's
//! artifacts with a message saying what to use. With a GPU: every test model runs and
//! matches its onnxruntime reference (otherwise that test prints SKIP and why).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_cuda::{npy, CudaError, CudaModel};
use neoc_driver::{compile_file, CompileOptions};
use std::path::{Path, PathBuf};

fn models() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn compile(dir: &Path, target: &str) -> Vec<u8> {
    let opts = CompileOptions {
        target: target.into(),
        ..CompileOptions::default()
    };
    compile_file(&dir.join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .0
        .to_bytes()
}

#[test]
fn without_a_driver_loading_says_so_and_cpu_artifacts_are_refused() {
    let lenet = models().into_iter().find(|d| d.ends_with("lenet")).unwrap();
    let bytes = compile(&lenet, "cuda-sm80");
    assert_eq!(neoc_cuda::check_bytes(&bytes, "lenet.neo").unwrap(), 80);

    // A driver library that is not there: the message names it and what to do.
    std::env::set_var(neoc_cuda::CUDA_LIBRARY_ENV, "/nonexistent/libcuda.so.1");
    let err = CudaModel::from_bytes(&bytes, "lenet.neo").unwrap_err();
    std::env::remove_var(neoc_cuda::CUDA_LIBRARY_ENV);
    assert!(matches!(err, CudaError::NoDriver { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("no CUDA driver: cannot load /nonexistent/libcuda.so.1"),
        "{msg}"
    );
    assert!(msg.contains("CPU target"), "{msg}");

    // The real driver lookup: on a machine without a GPU this is one of the two clear
    // errors; with a GPU the model loads.
    match CudaModel::from_bytes(&bytes, "lenet.neo") {
        Ok(m) => println!("GPU present: {m:?}"),
        Err(e @ (CudaError::NoDriver { .. } | CudaError::NoDevice { .. })) => {
            println!("no GPU here, as reported: {e}")
        }
        Err(e) => panic!("unexpected error without a GPU: {e}"),
    }

    // The CPU runtime refuses the CUDA artifact and says where to run it.
    let err = neoc_runtime::Model::from_bytes(bytes.clone()).unwrap_err();
    assert!(err.to_string().contains("CUDA target cuda-sm80"), "{err}");
    assert!(err.to_string().contains("neoc-cuda"), "{err}");

    // The CUDA executor refuses a CPU artifact before looking for a driver.
    let cpu = compile(&lenet, "x86_64-avx2");
    let err = CudaModel::from_bytes(&cpu, "lenet-cpu.neo").unwrap_err();
    assert!(matches!(err, CudaError::NotCuda { .. }), "{err}");
    assert!(err.to_string().contains("cuda-sm90"), "{err}");

    // A damaged PTX section is caught by the artifact checksum; a PTX without a kernel's
    // entry by the executor's own checks.
    let mut art = neoc_artifact::Artifact::parse(&bytes).unwrap().to_owned();
    let ptx = String::from_utf8(art.variants[0].code.clone()).unwrap();
    let first = art.plan.kernels[0].symbol.clone();
    art.variants[0].code = ptx
        .replace(&format!(".entry {first}("), ".entry renamed(")
        .into_bytes();
    let err = neoc_cuda::check_bytes(&art.to_bytes(), "edited.neo").unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("no .entry for kernel {first}")),
        "{err}"
    );
}

#[test]
fn every_test_model_compiles_for_cuda_and_passes_the_executor_checks() {
    for dir in models() {
        let bytes = compile(&dir, "cuda-sm90");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(neoc_cuda::check_bytes(&bytes, &name).unwrap(), 90, "{name}");
    }
}

/// The best CUDA target for a GPU of compute capability `sm` (the newest listed one not
/// newer than the GPU).
fn target_for(sm: u32) -> &'static str {
    [
        (90, "cuda-sm90"),
        (89, "cuda-sm89"),
        (86, "cuda-sm86"),
        (80, "cuda-sm80"),
        (75, "cuda-sm75"),
    ]
    .into_iter()
    .find(|(s, _)| sm >= *s)
    .map_or("cuda-sm70", |(_, t)| t)
}

#[test]
fn gpu_every_test_model_matches_its_reference() {
    let gpu = match neoc_cuda::gpu_available() {
        Ok(gpu) => gpu,
        Err(why) => {
            eprintln!("SKIP gpu_every_test_model_matches_its_reference: {why}");
            return;
        }
    };
    println!("GPU: {gpu}");
    let mut failures = Vec::new();
    for dir in models() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        if case.get("input_shapes").is_some() {
            continue; // needs --input-shape; covered by the CPU tests
        }
        let (rtol, atol) = (
            case["rtol"].as_f64().unwrap(),
            case["atol"].as_f64().unwrap(),
        );
        let probe = CudaModel::from_bytes(&compile(&dir, "cuda-sm70"), &name);
        let sm = probe.as_ref().map_or(70, CudaModel::device_sm);
        drop(probe);
        let mut model = CudaModel::from_bytes(&compile(&dir, target_for(sm)), &name).unwrap();
        let inputs: Vec<npy::Npy> = model
            .inputs()
            .iter()
            .map(|s| npy::read(&dir.join("inputs").join(format!("{}.npy", s.name))).unwrap())
            .collect();
        let refs: Vec<_> = inputs
            .iter()
            .map(|t| neoc_runtime::TensorRef::new(t.dtype, &t.shape, &t.data))
            .collect();
        let outs = model.run(&refs).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (spec, got) in model.outputs().iter().zip(&outs) {
            let want = npy::read(&dir.join("expected").join(format!("{}.npy", spec.name))).unwrap();
            let (g, w) = (
                npy::values(got.dtype(), got.as_bytes()).unwrap(),
                npy::values(want.dtype, &want.data).unwrap(),
            );
            let bad = g
                .iter()
                .zip(&w)
                .filter(|(x, y)| {
                    !(x == y
                        || (x.is_nan() && y.is_nan())
                        || (*x - *y).abs() <= atol + rtol * y.abs())
                })
                .count();
            println!(
                "{name}/{}: {bad} of {} outside rtol {rtol} atol {atol}",
                spec.name,
                g.len()
            );
            if bad > 0 {
                failures.push(format!("{name}/{}", spec.name));
            }
        }
    }
    assert!(failures.is_empty(), "mismatches on the GPU: {failures:?}");
}
