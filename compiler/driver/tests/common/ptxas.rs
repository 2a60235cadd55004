//! Finding NVIDIA's `ptxas` and assembling PTX with it, for the tests that check CUDA
//! code generation without a GPU (`cuda_ptx.rs`, `precision.rs`). `ptxas` is found
//! through `NEOC_PTXAS`, then the `nvidia-cuda-nvcc-cu12` wheel in the repository's
//! `.venv-ci` or `.venv-cuda`; without it the checks print a visible SKIP line, unless
//! `NEOC_REQUIRE_PTXAS=1` (CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
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
pub fn ptxas_or_skip(what: &str) -> Option<PathBuf> {
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

pub fn assemble(ptxas: &Path, ptx: &str, sm: &str, what: &str, tmp: &Path) {
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
