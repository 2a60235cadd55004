//! `neoc compile --quantize int8` from the command line: the report on stderr and in
//! `--report FILE`, and misuse failing with a message (docs/quantization.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(args)
        .output()
        .expect("neoc runs")
}

fn digits() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/quant/digits")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn quantize_int8_writes_the_report() {
    let tmp = std::env::temp_dir().join(format!("neoc-cli-quantize-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (art, report) = (tmp.join("digits.neo"), tmp.join("report.txt"));
    let o = neoc(&[
        "compile",
        s(&digits().join("model.onnx")),
        "--quantize",
        "int8",
        "--calibration",
        s(&digits().join("calibration")),
        "--calibration-method",
        "percentile",
        "--keep-float",
        "Gemm",
        "--report",
        s(&report),
        "-o",
        s(&art),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(err.contains(&text), "the report is printed too:\n{err}");
    assert!(
        text.contains("128 calibration samples, percentile ranges"),
        "{text}"
    );
    assert!(text.contains("float: /fc/Gemm (--keep-float)"), "{text}");
    assert!(text.contains("int8: /c1/Conv"), "{text}");
    assert!(text.contains("output output: relative L2 error"), "{text}");
    assert!(
        text.contains("calibration: ") && text.contains("ms per sample"),
        "{text}"
    );
    assert!(art.exists());
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn quantize_misuse_is_a_usage_error() {
    let model = digits().join("model.onnx");
    let cal = digits().join("calibration");
    for (args, needle) in [
        (
            vec!["--quantize", "int4", "--calibration", s(&cal)],
            "only int8",
        ),
        (vec!["--quantize", "int8"], "needs --calibration"),
        (vec!["--calibration", s(&cal)], "need --quantize int8"),
        (
            vec![
                "--quantize",
                "int8",
                "--calibration",
                s(&cal),
                "--calibration-method",
                "mse",
            ],
            "expected minmax, percentile or entropy",
        ),
        (
            vec![
                "--quantize",
                "int8",
                "--calibration",
                s(&cal),
                "--calibration-engine",
                "gpu",
            ],
            "expected auto, compiled or interpreter",
        ),
        (
            vec![
                "--quantize",
                "int8",
                "--calibration",
                s(&cal),
                "--accuracy-budget=-1",
            ],
            "--accuracy-budget",
        ),
    ] {
        let mut all = vec!["compile", s(&model), "-o", "/dev/null"];
        all.extend(args);
        let o = neoc(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {err}");
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{all:?}: {err}"
        );
    }
}
