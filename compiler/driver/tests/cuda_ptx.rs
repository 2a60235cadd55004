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
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `ptxas` to use, or why there is none.
fn ptxas() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NEOC_PTXAS") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("NEOC_PTXAS={} does not exist", p.display()))
        };
    }
    let mut tried = Vec::new();
    for venv in [".venv-ci", ".venv-cuda"] {
        let lib = repo().join(venv).join("lib");
        let Ok(entries) = std::fs::read_dir(&lib) else {
            tried.push(lib.display().to_string());
            continue;
        };
        for e in entries.flatten() {
            let p = e.path().join("site-packages/nvidia/cuda_nvcc/bin/ptxas");
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p.display().to_string());
        }
    }
    Err(format!(
        "no ptxas (set NEOC_PTXAS or `pip install nvidia-cuda-nvcc-cu12` into .venv-ci); tried {}",
        tried.join(", ")
    ))
}

/// `None` when the assembler checks must be skipped (message printed).
fn ptxas_or_skip(what: &str) -> Option<PathBuf> {
    match ptxas() {
        Ok(p) => Some(p),
        Err(why) => {
            if std::env::var("NEOC_REQUIRE_PTXAS").is_ok_and(|v| v == "1") {
                panic!("NEOC_REQUIRE_PTXAS=1 but {why}");
            }
            eprintln!("SKIP {what}: ptxas checks not run: {why}");
            None
        }
    }
}

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

fn assemble(ptxas: &Path, ptx: &str, sm: &str, what: &str, tmp: &Path) {
    let file = tmp.join(format!("{what}.ptx"));
    std::fs::write(&file, ptx).unwrap();
    let out = Command::new(ptxas)
        .arg(format!("-arch={sm}"))
        .arg("-o")
        .arg(tmp.join(format!("{what}.cubin")))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ptxas -arch={sm} rejected the PTX of {what} ({}):\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
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
