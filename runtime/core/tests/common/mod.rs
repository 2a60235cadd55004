//! Shared test fixtures: a real kernel library compiled with the system C compiler, and a
//! hand-built artifact around it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use neoc_artifact::*;

const KERNELS_C: &str = r#"
void add_one(void** args, long task, long ntasks) {
    const float* x = args[0]; float* y = args[1];
    for (int i = 0; i < 4; i++) y[i] = x[i] + 1.0f;
}
void add(void** args, long task, long ntasks) {
    const float* a = args[0]; const float* b = args[1]; float* y = args[2];
    for (int i = 0; i < 4; i++) y[i] = a[i] + b[i];
}
"#;

/// A scratch directory unique to this test process.
pub fn scratch_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("neoc-runtime-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The kernels compiled into an ELF shared object, or `None` (with a message) when no C
/// compiler is available.
pub fn kernels_so() -> Option<Vec<u8>> {
    static SO: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    SO.get_or_init(|| {
        let dir = scratch_dir();
        let src = dir.join("k.c");
        let out = dir.join("k.so");
        std::fs::write(&src, KERNELS_C).unwrap();
        let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-shared", "-fPIC", "-O2", "-nostdlib", "-o"])
            .arg(&out)
            .arg(&src)
            .status();
        match status {
            Ok(s) if s.success() => Some(std::fs::read(&out).unwrap()),
            other => {
                eprintln!("SKIPPED: no working C compiler (cc): {other:?}");
                None
            }
        }
    })
    .clone()
}

pub fn host_arch() -> Arch {
    if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else {
        Arch::X86_64
    }
}

pub fn other_arch() -> Arch {
    if cfg!(target_arch = "aarch64") {
        Arch::X86_64
    } else {
        Arch::Aarch64
    }
}

pub fn spec(name: &str, shape: &[u64]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape: shape.to_vec(),
    }
}

/// y = (x + 1) + w, with w = [10, 20, 30, 40] stored at weights offset 64 and x + 1 in the
/// arena.
pub fn artifact(code: Vec<u8>) -> Artifact {
    let mut weights = vec![0u8; 64];
    for v in [10.0f32, 20.0, 30.0, 40.0] {
        weights.extend_from_slice(&v.to_le_bytes());
    }
    Artifact {
        compiler_version: "test".into(),
        target: TargetInfo {
            name: "host".into(),
            arch: host_arch(),
            triple: "test-triple".into(),
        },
        inputs: vec![spec("x", &[1, 4])],
        outputs: vec![spec("y", &[1, 4])],
        plan: Plan {
            arena_size: 64,
            kernels: vec![
                KernelInfo {
                    symbol: "add_one".into(),
                    params: vec![16, 16],
                    parallel: false,
                },
                KernelInfo {
                    symbol: "add".into(),
                    params: vec![16, 16, 16],
                    parallel: false,
                },
            ],
            steps: vec![
                Step {
                    kernel: 0,
                    args: vec![
                        BufferRef::Input(0),
                        BufferRef::Arena {
                            offset: 32,
                            len: 16,
                        },
                    ],
                    label: "plus_one".into(),
                },
                Step {
                    kernel: 1,
                    args: vec![
                        BufferRef::Arena {
                            offset: 32,
                            len: 16,
                        },
                        BufferRef::Weight {
                            offset: 64,
                            len: 16,
                        },
                        BufferRef::Output(0),
                    ],
                    label: "plus_w".into(),
                },
            ],
        },
        variants: vec![CodeVariant {
            name: "generic".into(),
            cpu: "generic".into(),
            required_features: vec![],
            code,
        }],
        weights,
        metadata: vec![("source".into(), "hand-built".into())],
    }
}

pub const X: [f32; 4] = [1.0, 2.0, 3.0, 4.0];
pub const Y: [f32; 4] = [12.0, 23.0, 34.0, 45.0];
