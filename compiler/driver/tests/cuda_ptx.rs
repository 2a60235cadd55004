//! CUDA code generation without a GPU: every test model under `testmodels/models/` is
//! compiled for CUDA targets; LLVM verifies each module (a verifier failure is a compile
//! error) and NVIDIA's `ptxas` assembles the PTX for its architecture, so PTX that a
//! driver would refuse fails here. Every model is checked for `cuda-sm70` and `cuda-sm90`
//! (the oldest and newest PTX ISA versions used); the small ones for every listed
//! architecture.
//!
//! `ptxas` is found through `NEOC_PTXAS`, then the `nvidia-cuda-nvcc-cu12` wheel in the
//! repository's `.venv-ci` or `.venv-cuda` (`site-packages/nvidia/cuda_nvcc/bin/ptxas`).
//! Without it the assembler checks print a visible SKIP line, unless
//! `NEOC_REQUIRE_PTXAS=1` (CI) makes that a failure. The checks that run the models on a
//! GPU are in `runtime/cuda/tests` and `scripts/gpu-pack` (`docs/cuda.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use std::path::{Path, PathBuf};

#[path = "common/ptxas.rs"]
mod ptxas;
use ptxas::{assemble, ptxas_or_skip, repo};

const ALL_ARCHS: [&str; 6] = [
    "cuda-sm70",
    "cuda-sm75",
    "cuda-sm80",
    "cuda-sm86",
    "cuda-sm89",
    "cuda-sm90",
];

/// Models small enough to compile for every architecture in a CI run.
fn is_small(dir: &Path) -> bool {
    std::fs::metadata(dir.join("model.onnx")).is_ok_and(|m| m.len() < 2_000_000)
}

#[test]
fn every_test_model_compiles_to_ptx_that_ptxas_assembles() {
    let ptxas = ptxas_or_skip("cuda_ptx");
    let tmp = std::env::temp_dir().join(format!("neoc-cuda-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("testmodels/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "test models missing");
    let mut checked = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let archs: Vec<&str> = if is_small(dir) {
            ALL_ARCHS.to_vec()
        } else {
            vec!["cuda-sm70", "cuda-sm90"]
        };
        for target in archs {
            let opts = CompileOptions {
                target: target.into(),
                ..CompileOptions::default()
            };
            let t = std::time::Instant::now();
            let (artifact, report) = compile_file(&dir.join("model.onnx"), &opts)
                .unwrap_or_else(|e| panic!("{name} for {target}: {e}"));
            assert_eq!(artifact.target.arch, neoc_artifact::Arch::Nvptx);
            assert_eq!(artifact.variants.len(), 1);
            let v = &artifact.variants[0];
            let sm = v.cpu.as_str();
            assert_eq!(v.required_features, [sm]);
            let ptx = std::str::from_utf8(&v.code).unwrap();
            assert!(ptx.contains(&format!(".target {sm}")), "{name}: {sm}");
            // Every kernel is an entry point with its launch size next to it.
            let threads = neoc_llvm::ptx_threads(ptx);
            for k in &artifact.plan.kernels {
                assert!(
                    ptx.contains(&format!(".entry {}(", k.symbol)),
                    "{name}: no .entry {}",
                    k.symbol
                );
                assert!(
                    threads.iter().any(|(n, t)| n == &k.symbol && *t >= 1),
                    "{name}: no launch size for {}",
                    k.symbol
                );
            }
            if let Some(ptxas) = &ptxas {
                assemble(ptxas, ptx, sm, &format!("{name}-{sm}"), &tmp);
            }
            println!(
                "{name} [{target}]: {} kernels, {} bytes of PTX, compiled in {:.2}s{}",
                report.unique_kernels,
                ptx.len(),
                t.elapsed().as_secs_f64(),
                if ptxas.is_some() { ", ptxas ok" } else { "" }
            );
            checked += 1;
        }
    }
    println!("{checked} CUDA compilations checked");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn cuda_target_refuses_cpu_linking_and_names_the_alias() {
    let t = neoc_target_spec::lookup("h100").unwrap();
    assert_eq!(t.name, "cuda-sm90");
    let err = neoc_llvm::compile_shared_object(
        &neoc_kernel::Module::default(),
        &t,
        &t.levels[0],
        &neoc_llvm::CodegenOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("PTX"), "{err}");
}

/// The block kernels (row reductions, GEMM tiles) of a few models at `sm_90`: `ptxas -v`
/// says how many registers and bytes of shared memory each uses and that none spills;
/// the figures are printed (`--nocapture`) for `docs/cuda.md`. Their PTX uses the
/// primitives (`bar.sync`, butterfly shuffles, `.shared`).
#[test]
fn block_kernels_assemble_without_spills_at_sm90() {
    let Some(ptxas) = ptxas_or_skip("cuda_ptx block kernels") else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("neoc-cuda-blocks-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut seen_barrier = false;
    for name in [
        "bert_encoder",
        "ops_reduce",
        "ops_pool",
        "ops_layernorm_gelu",
    ] {
        let opts = CompileOptions {
            target: "cuda-sm90".into(),
            ..CompileOptions::default()
        };
        let model = repo()
            .join("testmodels/models")
            .join(name)
            .join("model.onnx");
        let (artifact, _) = compile_file(&model, &opts).unwrap();
        let ptx = std::str::from_utf8(&artifact.variants[0].code).unwrap();
        let blocks = neoc_llvm::ptx_blocks(ptx);
        assert!(!blocks.is_empty(), "{name}: no block kernels");
        assert!(ptx.contains("shfl.sync.bfly"), "{name}: no warp shuffle");
        seen_barrier |= ptx.contains("bar.sync") && ptx.contains(".shared");
        let file = tmp.join(format!("{name}.ptx"));
        std::fs::write(&file, ptx).unwrap();
        let out = std::process::Command::new(&ptxas)
            .args(["-arch=sm_90", "-v", "-o"])
            .arg(tmp.join(format!("{name}.cubin")))
            .arg(&file)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{name}: ptxas failed:\n{log}");
        // "Compiling entry function 'k' for 'sm_90'" … "Used R registers, … S bytes smem".
        let mut kernel = String::new();
        for line in log.lines() {
            if let Some(rest) = line.split("Compiling entry function '").nth(1) {
                kernel = rest.split('\'').next().unwrap_or("").to_string();
            }
            if line.contains("bytes spill") {
                assert!(
                    line.contains(" 0 bytes spill stores") && line.contains(" 0 bytes spill loads"),
                    "{name}/{kernel} spills: {line}"
                );
            }
            if let Some(used) = line.split("Used ").nth(1) {
                if let Some((_, b)) = blocks.iter().find(|(k, _)| *k == kernel) {
                    println!("{name}/{kernel} (block {b}): used {used}");
                }
            }
        }
    }
    assert!(seen_barrier, "no bar.sync with .shared memory in any model");
    let _ = std::fs::remove_dir_all(&tmp);
}
