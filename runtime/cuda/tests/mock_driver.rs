//! The CUDA executor's real code paths without a GPU, against a mock driver
//! (`tests/mock/libcuda_mock.c`, built here with `cc`): loading the driver library,
//! device query, PTX module and kernel lookup, weight upload and arena offsets, argument
//! marshalling for `cuLaunchKernel`, input/output copies, and CUDA graph capture and
//! replay. The mock runs each launched kernel from an x86-64 build of the very kernels the
//! CUDA artifact's PTX was generated from (same plan, same GPU lowering and schedule), as
//! task t of n for every thread t of the launch's grid (the GPU's decomposition, run in
//! turn), so every test model's outputs must match its onnxruntime reference; lenet,
//! mobilenet_v2 and the BERT-style encoder also at `--precision fp16` and `bf16` (within
//! 1e-2 / 5e-2 of the largest reference magnitude). Skips (with a message) where no C
//! compiler is installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_cuda::{npy, CudaModel};
use neoc_driver::{compile_file, CompileOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

fn build_mock(dir: &Path) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mock/libcuda_mock.c");
    let out = dir.join("libcuda_mock.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    match Command::new(&cc)
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-ldl")
        .output()
    {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => panic!("{cc} failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            eprintln!("SKIP mock_driver: no C compiler ({cc}: {e})");
            None
        }
    }
}

/// The CUDA artifact of `model` and an x86-64 shared object of the same kernels.
fn artifact_and_cpu_kernels(
    model: &Path,
    name: &str,
    dir: &Path,
    precision: neoc_kernel::Precision,
) -> (Vec<u8>, PathBuf) {
    let opts = CompileOptions {
        target: "cuda-sm90".into(),
        precision,
        ..CompileOptions::default()
    };
    let (artifact, _) = compile_file(model, &opts).unwrap();
    let mut graph = neoc_driver::import(model, &[], &[]).unwrap();
    neoc_driver::optimize(&mut graph, name, &opts).unwrap();
    let cuda = &neoc_target_spec::lookup("cuda-sm90").unwrap().levels[0];
    let unit = neoc_kernel::VectorUnit {
        bits: cuda.vector_bits,
        registers: cuda.vector_registers,
        parallelism: cuda.parallel_iterations,
        signed_dot_bytes: false,
    };
    let mut module =
        neoc_driver::plan::plan_with_precision(&graph, name, unit, precision, &|_, _| {})
            .unwrap()
            .module;
    for k in &mut module.kernels {
        *k = neoc_kernel::gpu::schedule(k);
    }
    let cpu = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let so = neoc_llvm::compile_shared_object(
        &module,
        &cpu,
        &cpu.levels[0],
        &neoc_llvm::CodegenOptions::default(),
    )
    .unwrap();
    let path = dir.join(format!("{name}-{}-kernels.so", precision.name()));
    std::fs::write(&path, so).unwrap();
    (artifact.to_bytes(), path)
}

/// Runs `model` on the case's stored inputs; every output's values next to its
/// onnxruntime reference (`expected/<output>.npy`).
fn outputs_and_references(
    model: &mut CudaModel,
    dir: &Path,
    name: &str,
) -> Vec<(Vec<f64>, Vec<f64>)> {
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
    model
        .outputs()
        .iter()
        .zip(&outs)
        .map(|(spec, got)| {
            let want = npy::read(&dir.join("expected").join(format!("{}.npy", spec.name))).unwrap();
            (
                npy::values(got.dtype(), got.as_bytes()).unwrap(),
                npy::values(want.dtype, &want.data).unwrap(),
            )
        })
        .collect()
}

fn check_outputs(model: &mut CudaModel, dir: &Path, name: &str) -> usize {
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let (rtol, atol) = (
        case["rtol"].as_f64().unwrap(),
        case["atol"].as_f64().unwrap(),
    );
    let mut bad = 0;
    for (g, w) in outputs_and_references(model, dir, name) {
        bad += g
            .iter()
            .zip(&w)
            .filter(|(x, y)| {
                !(x == y || (x.is_nan() && y.is_nan()) || (*x - *y).abs() <= atol + rtol * y.abs())
            })
            .count();
    }
    bad
}

/// The largest error of any output over that output's largest reference magnitude.
fn scaled_error(model: &mut CudaModel, dir: &Path, name: &str) -> f64 {
    let mut worst = 0f64;
    for (g, w) in outputs_and_references(model, dir, name) {
        let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
        let err = g
            .iter()
            .zip(&w)
            .map(|(x, y)| (x - y).abs())
            .fold(
                0f64,
                |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
            );
        worst = worst.max(err / scale);
    }
    worst
}

#[test]
fn the_executor_runs_every_test_model_through_a_mock_driver() {
    let tmp = std::env::temp_dir().join(format!("neoc-cuda-mock-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let Some(mock) = build_mock(&tmp) else { return };
    let log = tmp.join("launches.log");
    std::env::set_var(neoc_cuda::CUDA_LIBRARY_ENV, &mock);
    std::env::set_var("NEOC_MOCK_LOG", &log);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case = std::fs::read_to_string(dir.join("case.json")).unwrap();
        if case.contains("input_shapes") {
            continue; // needs --input-shape; the CPU tests cover it
        }
        let (bytes, so) = artifact_and_cpu_kernels(
            &dir.join("model.onnx"),
            &name,
            &tmp,
            neoc_kernel::Precision::F32,
        );
        std::env::set_var("NEOC_MOCK_KERNELS", &so);
        for graphs in ["1", "0"] {
            std::env::set_var(neoc_cuda::CUDA_GRAPHS_ENV, graphs);
            let _ = std::fs::remove_file(&log);
            let mut model =
                CudaModel::from_bytes(&bytes, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(model.device_name(), "neoc mock GPU");
            // Twice: the first run captures the graph, the second replays it.
            for run in 0..2 {
                let bad = check_outputs(&mut model, dir, &name);
                if bad > 0 {
                    failures.push(format!(
                        "{name} (graphs {graphs}, run {run}): {bad} outside"
                    ));
                }
            }
            let kinds = std::fs::read_to_string(&log).unwrap_or_default();
            let replays = kinds.lines().filter(|l| *l == "graph").count();
            let launches = kinds.lines().filter(|l| *l == "launch").count();
            if graphs == "1" {
                assert_eq!((replays, launches), (2, 0), "{name}: graph replay expected");
                assert!(model.uses_graphs());
            } else {
                assert_eq!((replays, launches), (0, 2 * model.launches()), "{name}");
            }
        }
        checked += 1;
        println!("{name}: outputs match through the mock driver (graph replay and step by step)");
        // 16-bit storage (`--precision`): half-size weights and arena through the
        // executor, within the precision's bound (docs/cuda.md, "Precision").
        if ["lenet", "mobilenet_v2", "bert_encoder"].contains(&name.as_str()) {
            for (p, tol) in [
                (neoc_kernel::Precision::F16, 1e-2),
                (neoc_kernel::Precision::BF16, 5e-2),
            ] {
                let (bytes, so) = artifact_and_cpu_kernels(&dir.join("model.onnx"), &name, &tmp, p);
                std::env::set_var("NEOC_MOCK_KERNELS", &so);
                let mut model = CudaModel::from_bytes(&bytes, &name).unwrap();
                let err = scaled_error(&mut model, dir, &name);
                println!(
                    "{name} {}: error {err:.3e} of the largest reference value",
                    p.name()
                );
                if err > tol {
                    failures.push(format!("{name} {}: error {err:.3e} > {tol}", p.name()));
                }
            }
        }
    }
    std::env::remove_var(neoc_cuda::CUDA_LIBRARY_ENV);
    std::env::remove_var(neoc_cuda::CUDA_GRAPHS_ENV);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(checked >= 10);
    assert!(failures.is_empty(), "{failures:?}");
}
