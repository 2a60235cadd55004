//! `neoc compile --precision fp16|bf16` from the command line: the accuracy report
//! against the fp32 plan on stderr and in `--report FILE`, the artifact's f32 interface,
//! and misuse failing with a message (docs/cuda.md, "Precision").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(args)
        .output()
        .expect("neoc runs")
}

fn lenet() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models/lenet/model.onnx")
}

/// The relative error printed for `output` in a report.
fn relative(report: &str) -> f64 {
    let line = report
        .lines()
        .find(|l| l.contains("output output:"))
        .unwrap_or_else(|| panic!("no output line in {report}"));
    let rel = line.split("relative ").nth(1).unwrap();
    rel.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn fp16_and_bf16_print_the_accuracy_report() {
    let tmp = std::env::temp_dir().join(format!("neoc-cli-precision-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (p, target, bound) in [
        ("fp16", "x86_64", 1e-2),
        ("bf16", "x86_64", 5e-2),
        // Not runnable here: both plans are built for this CPU.
        ("fp16", "cuda-sm90", 1e-2),
    ] {
        let art = tmp.join(format!("lenet-{p}-{target}.neo"));
        let report = tmp.join(format!("lenet-{p}-{target}.txt"));
        let lenet = lenet();
        let o = neoc(&[
            "compile",
            lenet.to_str().unwrap(),
            "--precision",
            p,
            "-t",
            target,
            "-o",
            art.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{p} {target}: {err}");
        let text = std::fs::read_to_string(&report).unwrap();
        assert!(
            err.contains(&text),
            "--report holds what is printed:\n{text}\n{err}"
        );
        assert!(
            err.contains(&format!("{p} accuracy against the fp32 plan")),
            "{err}"
        );
        assert!(err.contains("top-1 agrees on 2/2 rows"), "{err}");
        let rel = relative(&err);
        assert!(rel > 0.0 && rel <= bound, "{p} {target}: {rel}\n{err}");
        if target == "x86_64" {
            // The interface stays f32.
            let o = neoc(&["inspect", art.to_str().unwrap()]);
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.contains("input float32[2,1,28,28]"), "{out}");
            assert!(out.contains("output float32[2,10]"), "{out}");
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn precision_misuse_is_a_usage_error() {
    let lenet = lenet();
    let o = neoc(&[
        "compile",
        lenet.to_str().unwrap(),
        "--precision",
        "fp8",
        "-o",
        "/dev/null",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--precision `fp8`: expected fp32, fp16 or bf16") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn the_report_runs_the_calibration_samples_when_given() {
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/quant/digits");
    let o = neoc(&[
        "compile",
        digits.join("model.onnx").to_str().unwrap(),
        "--precision",
        "fp16",
        "--calibration",
        digits.join("calibration").to_str().unwrap(),
        "-o",
        "/dev/null",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("128 calibration samples, worst sample"),
        "{err}"
    );
    // 128 digit images classified as by the fp32 plan.
    assert!(err.contains("top-1 agrees on 128/128 rows"), "{err}");
    assert!(relative(&err) <= 1e-2, "{err}");
}
