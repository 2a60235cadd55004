//! Shared test harness: compile kernels to a shared object, load it, call kernels.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use neoc_kernel::{Kernel, Module};
use neoc_llvm::{compile_shared_object, CodegenOptions};
use neoc_target_spec::{CpuLevel, Target};

/// The x86-64 levels this machine can run, each with its single-level target.
pub fn runnable_levels() -> Vec<(Target, CpuLevel)> {
    let mut out = Vec::new();
    for name in ["x86_64-avx2", "x86_64-avx512"] {
        let target = neoc_target_spec::lookup(name).unwrap();
        let level = target.levels[0].clone();
        if level.required_features.iter().all(|f| has_feature(f)) {
            out.push((target, level));
        } else {
            eprintln!(
                "skipping level {} (this CPU lacks its features)",
                level.name
            );
        }
    }
    out
}

fn has_feature(f: &str) -> bool {
    match f {
        "avx" => is_x86_feature_detected!("avx"),
        "avx2" => is_x86_feature_detected!("avx2"),
        "fma" => is_x86_feature_detected!("fma"),
        "f16c" => is_x86_feature_detected!("f16c"),
        "bmi1" => is_x86_feature_detected!("bmi1"),
        "bmi2" => is_x86_feature_detected!("bmi2"),
        "lzcnt" => is_x86_feature_detected!("lzcnt"),
        "movbe" => is_x86_feature_detected!("movbe"),
        "avx512f" => is_x86_feature_detected!("avx512f"),
        "avx512bw" => is_x86_feature_detected!("avx512bw"),
        "avx512cd" => is_x86_feature_detected!("avx512cd"),
        "avx512dq" => is_x86_feature_detected!("avx512dq"),
        "avx512vl" => is_x86_feature_detected!("avx512vl"),
        _ => false,
    }
}

/// A loaded shared object; the file is removed on drop.
pub struct Lib {
    lib: libloading::Library,
    path: PathBuf,
    pub bytes: Vec<u8>,
}

type KernelFn = unsafe extern "C" fn(*const *mut u8, i64, i64);

impl Lib {
    pub fn compile(kernels: Vec<Kernel>, target: &Target, level: &CpuLevel) -> Lib {
        Self::compile_opts(kernels, target, level, &CodegenOptions::default())
    }

    pub fn compile_opts(
        kernels: Vec<Kernel>,
        target: &Target,
        level: &CpuLevel,
        opts: &CodegenOptions,
    ) -> Lib {
        let module = Module { kernels };
        let bytes = compile_shared_object(&module, target, level, opts)
            .unwrap_or_else(|e| panic!("compile failed: {e}"));
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "neoc-llvm-test-{}-{}.so",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, &bytes).unwrap();
        // SAFETY: the object has no initialisers and depends on nothing.
        let lib = unsafe { libloading::Library::new(&path) }.unwrap();
        Lib { lib, path, bytes }
    }

    /// Calls kernel `name` with `bufs` as `args` and the given task split.
    pub fn call(&self, name: &str, bufs: &[*mut u8], task: i64, ntasks: i64) {
        // SAFETY: the test declares buffers matching the kernel's params.
        unsafe {
            let f: libloading::Symbol<KernelFn> = self.lib.get(name.as_bytes()).unwrap();
            f(bufs.as_ptr(), task, ntasks);
        }
    }
}

impl Drop for Lib {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A raw pointer to a slice's data, for `args`.
pub fn ptr<T>(v: &mut [T]) -> *mut u8 {
    v.as_mut_ptr().cast()
}

/// NVIDIA's `ptxas`: `NEOC_PTXAS`, else the `nvidia-cuda-nvcc-cu12` wheel in the
/// repository's `.venv-ci` or `.venv-cuda` (as the driver's CUDA tests find it). `None`
/// (after a visible SKIP line naming `what`) when there is none, unless
/// `NEOC_REQUIRE_PTXAS=1` (CI) makes that a failure.
pub fn ptxas_or_skip(what: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NEOC_PTXAS") {
        return Some(p.into());
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for venv in [".venv-ci", ".venv-cuda"] {
        let Ok(entries) = std::fs::read_dir(repo.join(venv).join("lib")) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path().join("site-packages/nvidia/cuda_nvcc/bin/ptxas");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if std::env::var("NEOC_REQUIRE_PTXAS").is_ok_and(|v| v == "1") {
        panic!("NEOC_REQUIRE_PTXAS=1 but no ptxas (NEOC_PTXAS, .venv-ci, .venv-cuda)");
    }
    eprintln!("SKIP {what}: no ptxas (set NEOC_PTXAS or pip install nvidia-cuda-nvcc-cu12)");
    None
}

/// Assembles `ptx` for `sm` (e.g. `sm_90`) with `ptxas`; panics with its log on failure.
pub fn assemble(ptxas: &std::path::Path, ptx: &str, sm: &str, what: &str) {
    static N: AtomicU64 = AtomicU64::new(0);
    let stem = std::env::temp_dir().join(format!(
        "neoc-llvm-ptx-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let (src, out) = (stem.with_extension("ptx"), stem.with_extension("cubin"));
    std::fs::write(&src, ptx).unwrap();
    let run = std::process::Command::new(ptxas)
        .arg(format!("-arch={sm}"))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&out);
    assert!(
        run.status.success(),
        "ptxas -arch={sm} rejected {what}:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
