//! The GPU lowering and schedule checked on the CPU: every test model is compiled for
//! `cuda-sm90`, its kernels (lowered for the CUDA level: GEMMs blocked for many threads,
//! no Winograd, flat im2col; then `neoc_kernel::gpu::schedule`'s loop collapsing) are
//! compiled for x86-64 instead of PTX and put in the CUDA artifact's place, run by the CPU
//! runtime on 3 threads (tasks split the loops as GPU threads do) and compared with the
//! onnxruntime references. A wrong collapse — iterations that
//! were not independent, or indices recomputed wrongly — changes results here, without a
//! GPU. Block kernels (row reductions, GEMM tiles) run through `neoc_kernel::gpu::emulate`
//! (the CPU backend applies it), so a missing barrier's effect or a wrong warp reduction
//! fails here too. It also reports how many more threads the schedule gives a GPU.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{errors, read_npy, stored_inputs, tensor_refs, values};

#[test]
fn gpu_scheduled_kernels_compute_the_same_on_the_cpu() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    let (mut changed, mut total, mut failures) = (0, 0, Vec::new());
    let mut vectorized = 0;
    // Every model at the default level; at -O3 (blocked channel layout) the models that
    // use it.
    let mut cases: Vec<(&PathBuf, u8)> = dirs.iter().map(|d| (d, 2)).collect();
    cases.extend(
        dirs.iter()
            .filter(|d| {
                ["ops_blocked", "mobilenet_v2", "resnet18"]
                    .iter()
                    .any(|n| d.ends_with(n))
            })
            .map(|d| (d, 3)),
    );
    for (dir, opt_level) in cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let shapes = common::input_shapes(&case);
        // The CUDA artifact (plan, weights, kernels lowered for the CUDA level) ...
        let opts = CompileOptions {
            target: "cuda-sm90".into(),
            opt_level,
            input_shapes: shapes.clone(),
            ..CompileOptions::default()
        };
        let model_file = dir.join("model.onnx");
        let (mut artifact, _) = compile_file(&model_file, &opts).unwrap();
        // ... and the same kernels, planned as the compiler did, GPU-scheduled, then
        // compiled for the CPU level instead of PTX.
        let mut graph = neoc_driver::import(&model_file, &shapes, &[]).unwrap();
        neoc_driver::optimize(&mut graph, &name, &opts).unwrap();
        let cuda = &neoc_target_spec::lookup("cuda-sm90").unwrap().levels[0];
        let unit = neoc_kernel::VectorUnit {
            bits: cuda.vector_bits,
            registers: cuda.vector_registers,
            parallelism: cuda.parallel_iterations,
            signed_dot_bytes: false,
        };
        let mut module = neoc_driver::plan::plan(&graph, &name, unit).unwrap().module;
        let (mut before, mut after) = (0u64, 0u64);
        let (mut blocks, mut block_threads) = (0, 0u64);
        for k in &mut module.kernels {
            if k.gpu.is_some() {
                blocks += 1;
                block_threads += neoc_kernel::gpu::launch_threads(k);
            }
            let s = neoc_kernel::gpu::schedule(k);
            if s != neoc_kernel::gpu::collapse(k) {
                vectorized += 1;
            }
            before += neoc_kernel::gpu::launch_threads(k);
            after += neoc_kernel::gpu::launch_threads(&s);
            total += 1;
            if s != *k {
                changed += 1;
            }
            *k = s;
        }
        let names: Vec<&str> = module.kernels.iter().map(|k| k.name.as_str()).collect();
        let symbols: Vec<&str> = artifact
            .plan
            .kernels
            .iter()
            .map(|k| k.symbol.as_str())
            .collect();
        assert_eq!(
            names, symbols,
            "{name}: kernels differ from the compiled artifact"
        );
        common::with_cpu_code(&mut artifact, &module, &target, &name);
        let model = Model::from_bytes(artifact.to_bytes()).unwrap();
        let inputs = stored_inputs(&model, dir);
        let refs = tensor_refs(&inputs);
        let mut ctx = model.new_context_with_threads(3).unwrap();
        let outputs = ctx.run(&model, &refs).unwrap();
        let (rtol, atol) = (
            case["rtol"].as_f64().unwrap(),
            case["atol"].as_f64().unwrap(),
        );
        for (spec, got) in model.outputs().iter().zip(&outputs) {
            let want = read_npy(&dir.join("expected").join(format!("{}.npy", spec.name)));
            let e = errors(
                &values(got.dtype(), got.as_bytes()),
                &want.values(),
                rtol,
                atol,
            );
            if e.bad > 0 {
                failures.push(format!(
                    "{name} -O{opt_level}/{}: {} outside",
                    spec.name, e.bad
                ));
            }
        }
        println!(
            "{name} -O{opt_level}: GPU threads per run {before} -> {after} (sum over kernels); \
             {blocks} of {} kernels are block kernels ({block_threads} threads)",
            module.kernels.len()
        );
    }
    println!("{changed} of {total} kernels rescheduled ({vectorized} to 4 elements per thread)");
    assert!(failures.is_empty(), "{failures:?}");
    assert!(changed > 0, "the schedule collapsed nothing");
}
