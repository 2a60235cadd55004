//! `neoc` on CUDA targets without a GPU: compiling works, `neoc run` / `neoc bench` reach
//! the CUDA executor and fail with its clear "no CUDA driver"/"no CUDA GPU" message and
//! the runtime exit status (3), never a panic. With a GPU, `neoc run` prints the outputs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

#[test]
fn run_and_bench_of_a_cuda_artifact_use_the_cuda_executor() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lenet = repo.join("testmodels/models/lenet");
    let dir = std::env::temp_dir().join(format!("neoc-cuda-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let art = dir.join("lenet-sm90.neo");
    let neoc = env!("CARGO_BIN_EXE_neoc");
    let out = Command::new(neoc)
        .args(["compile", "--target", "h100", "-o"])
        .arg(&art)
        .arg(lenet.join("model.onnx"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let has_gpu = neoc_cuda::gpu_available();
    for args in [
        vec![
            "run".to_string(),
            art.display().to_string(),
            "--input".into(),
            lenet.join("inputs/input.npy").display().to_string(),
        ],
        vec![
            "bench".to_string(),
            art.display().to_string(),
            "--iterations".into(),
            "3".into(),
        ],
    ] {
        let out = Command::new(neoc).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match &has_gpu {
            Ok(gpu) => assert!(out.status.success(), "{gpu}: {stderr}"),
            Err(_) => {
                assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
                assert!(
                    stderr.contains("no CUDA driver") || stderr.contains("no CUDA GPU"),
                    "{args:?}: {stderr}"
                );
                assert!(!stderr.contains("panicked"), "{stderr}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
