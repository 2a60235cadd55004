//! `--precision fp16|bf16`: weights and activations stored in 16 bits between kernels,
//! arithmetic in `f32` (`neoc_kernel::narrow`, `docs/cuda.md` "Precision").
//!
//! For the committed test models (LeNet, MobileNet-v2, the BERT-style encoder,
//! ResNet-18, the spatial transformer) the fp16 and bf16 artifacts — for the x86-64 target, and for `cuda-sm90`
//! through the GPU schedule compiled for the CPU (as `gpu_schedule.rs`) — must match the
//! onnxruntime references (`testmodels/models/*/expected`) within the tolerances below
//! (the CUDA lowering's products on tensor cores, `gpu::tensor_gemm`, emulated),
//! classify every sample as the reference does, keep `f32` inputs/outputs and store
//! about half the weight bytes of the fp32 artifact. Their PTX for `cuda-sm70` and
//! `cuda-sm90` must assemble with `ptxas` (skipped with a message without it, as in
//! `cuda_ptx.rs`).
//!
//! Tolerances, on the largest absolute error over the largest reference magnitude of
//! each output (measured: see `docs/cuda.md`): fp16 1e-2 (an 11-bit significand rounds
//! each stored value by at most 2^-11 ≈ 4.9e-4 relative; errors grow through ~50 layers),
//! bf16 5e-2 (8 bits: 2^-8 ≈ 3.9e-3 per rounding).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_kernel::Precision;
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{errors, read_npy, stored_inputs, tensor_refs, values};
#[path = "common/ptxas.rs"]
mod ptxas;

/// The spatial transformer checks that sampling grids stay f32 (bf16 grids: 40 % error).
const MODELS: [&str; 5] = [
    "lenet",
    "mobilenet_v2",
    "bert_encoder",
    "resnet18",
    "spatial_transformer",
];
/// Models whose output rows are class scores (top-1 must agree).
const CLASSIFIERS: [&str; 3] = ["lenet", "mobilenet_v2", "resnet18"];

fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testmodels/models")
        .join(name)
}

fn tolerance(p: Precision) -> f64 {
    match p {
        Precision::F16 => 1e-2,
        Precision::BF16 => 5e-2,
        Precision::F32 => 1e-4,
    }
}

/// The arg-max of each row of `row`-element rows.
fn top1(v: &[f64], row: usize) -> Vec<usize> {
    v.chunks(row)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &x)| if x > b.1 { (i, x) } else { b },
                )
                .0
        })
        .collect()
}

/// Runs `artifact` on the stored inputs and checks every output against the reference;
/// returns the worst scaled error.
fn check(name: &str, what: &str, artifact: &neoc_artifact::Artifact, p: Precision) -> f64 {
    let dir = model_dir(name);
    let model = Model::from_bytes(artifact.to_bytes()).unwrap();
    for s in model.inputs().iter().chain(model.outputs()) {
        assert!(
            matches!(s.dtype, neoc_runtime::DType::F32 | neoc_runtime::DType::I64),
            "{name} {what}: {} changed type to {:?}",
            s.name,
            s.dtype
        );
    }
    let inputs = stored_inputs(&model, &dir);
    let mut ctx = model.new_context_with_threads(2).unwrap();
    let outputs = ctx.run(&model, &tensor_refs(&inputs)).unwrap();
    let mut worst = 0f64;
    for (spec, got) in model.outputs().iter().zip(&outputs) {
        let want = read_npy(&dir.join("expected").join(format!("{}.npy", spec.name)));
        let (got, want_v) = (values(got.dtype(), got.as_bytes()), want.values());
        let e = errors(&got, &want_v, 0.0, 0.0);
        println!(
            "{name} {what} {}: max abs {:.3e}, scaled {:.3e}",
            spec.name, e.max_abs, e.scaled
        );
        assert!(
            e.scaled <= tolerance(p),
            "{name} {what} {}: error {:.3e} of the largest reference value exceeds {:.0e}",
            spec.name,
            e.scaled,
            tolerance(p)
        );
        worst = worst.max(e.scaled);
        if CLASSIFIERS.contains(&name) {
            let row = *want.shape.last().unwrap() as usize;
            assert_eq!(
                top1(&got, row),
                top1(&want_v, row),
                "{name} {what}: top-1 differs from onnxruntime"
            );
        }
    }
    worst
}

fn options(name: &str, target: &str, p: Precision) -> CompileOptions {
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir(name).join("case.json")).unwrap())
            .unwrap();
    CompileOptions {
        target: target.into(),
        input_shapes: common::input_shapes(&case),
        precision: p,
        ..CompileOptions::default()
    }
}

fn cpu(p: Precision) {
    for name in MODELS {
        let file = model_dir(name).join("model.onnx");
        let (a32, r32) = compile_file(&file, &options(name, "x86_64", Precision::F32)).unwrap();
        let (a, r) = compile_file(&file, &options(name, "x86_64", p))
            .unwrap_or_else(|e| panic!("{name} {}: {e}", p.name()));
        let what = format!("x86_64 {}", p.name());
        check(name, &what, &a, p);
        if name == "spatial_transformer" {
            // Every weight computes the sampling grid: all stay f32.
            assert_eq!(r.weight_bytes, r32.weight_bytes, "{name} {what}");
            continue;
        }
        assert!(
            r.weight_bytes * 100 <= r32.weight_bytes * 55,
            "{name} {what}: weights {} bytes, fp32 {}",
            r.weight_bytes,
            r32.weight_bytes
        );
        assert!(
            r.arena_bytes <= r32.arena_bytes,
            "{name} {what}: arena {} bytes, fp32 {}",
            r.arena_bytes,
            r32.arena_bytes
        );
        assert!(a
            .metadata
            .iter()
            .any(|(k, v)| k == "precision" && v == p.name()));
        assert!(!a32.metadata.iter().any(|(k, _)| k == "precision"));
        println!(
            "{name} {what}: weights {} -> {} bytes, arena {} -> {} bytes",
            r32.weight_bytes, r.weight_bytes, r32.arena_bytes, r.arena_bytes
        );
    }
}

#[test]
fn fp16_artifacts_match_the_references_on_the_cpu() {
    cpu(Precision::F16);
}

#[test]
fn bf16_artifacts_match_the_references_on_the_cpu() {
    cpu(Precision::BF16);
}

/// The `cuda-sm90` artifact with its kernels (CUDA lowering, GPU schedule, narrowed)
/// compiled for x86-64 instead of PTX, as `gpu_schedule.rs` does for fp32.
fn cuda_on_cpu(name: &str, p: Precision) -> neoc_artifact::Artifact {
    let opts = options(name, "cuda-sm90", p);
    let file = model_dir(name).join("model.onnx");
    let (mut artifact, _) = compile_file(&file, &opts).unwrap();
    let mut graph = neoc_driver::import(&file, &opts.input_shapes, &[]).unwrap();
    neoc_driver::optimize(&mut graph, name, &opts).unwrap();
    let cuda = &neoc_target_spec::lookup("cuda-sm90").unwrap().levels[0];
    let unit = neoc_kernel::VectorUnit {
        bits: cuda.vector_bits,
        registers: cuda.vector_registers,
        parallelism: cuda.parallel_iterations,
        signed_dot_bytes: false,
    };
    let planned =
        neoc_driver::plan::plan_with_precision(&graph, name, unit, p, &|_, _| {}).unwrap();
    assert_eq!(planned.weights, artifact.weights, "{name}: weights differ");
    let mut module = planned.module;
    for k in &mut module.kernels {
        *k = neoc_kernel::gpu::schedule(k);
    }
    let target = neoc_target_spec::lookup("x86_64-avx2").unwrap();
    common::with_cpu_code(&mut artifact, &module, &target, name);
    artifact
}

#[test]
fn cuda_lowering_in_fp16_and_bf16_matches_the_references() {
    for p in [Precision::F16, Precision::BF16] {
        for name in MODELS {
            let a = cuda_on_cpu(name, p);
            check(name, &format!("cuda-sm90 {} (on the CPU)", p.name()), &a, p);
        }
    }
}

#[test]
fn fp16_and_bf16_ptx_assembles() {
    let ptxas = ptxas::ptxas_or_skip("precision PTX");
    let tmp = std::env::temp_dir().join(format!("neoc-precision-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for p in [Precision::F16, Precision::BF16] {
        for name in MODELS {
            for target in ["cuda-sm70", "cuda-sm90"] {
                let file = model_dir(name).join("model.onnx");
                let (a, _) = compile_file(&file, &options(name, target, p))
                    .unwrap_or_else(|e| panic!("{name} {target} {}: {e}", p.name()));
                let v = &a.variants[0];
                let ptx = std::str::from_utf8(&v.code).unwrap();
                // Weights and activations move as 16-bit words; fp16 converts with
                // cvt (load: f16 → f32, store: round to nearest f32 → f16).
                for op in ["ld.global", "st.global"] {
                    assert!(
                        ptx.contains(&format!("{op}.u16")) || ptx.contains(&format!("{op}.b16")),
                        "{name} {target}: no 16-bit {op}"
                    );
                }
                if p == Precision::F16 {
                    for op in ["cvt.f32.f16", "cvt.rn.f16.f32"] {
                        assert!(ptx.contains(op), "{name} {target}: no {op}");
                    }
                }
                // Products on tensor cores from sm_80; sm_70 runs their expansion. The
                // spatial transformer's products all compute its sampling grid, which
                // stays f32 (so do they).
                let mmas = ptx.matches("mma.sync.aligned.m16n8k16").count();
                let expected = target == "cuda-sm90" && name != "spatial_transformer";
                assert_eq!(mmas > 0, expected, "{name} {target}: {mmas} mma");
                if let Some(ptxas) = &ptxas {
                    let what = format!("{name}-{}-{}", p.name(), v.cpu);
                    ptxas::assemble(ptxas, ptx, &v.cpu, &what, &tmp);
                }
                println!(
                    "{name} [{target} {}]: {} bytes of PTX, {mmas} mma{}",
                    p.name(),
                    ptx.len(),
                    if ptxas.is_some() { ", ptxas ok" } else { "" }
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
