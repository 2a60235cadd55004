//! What the CLI promises tools and people beyond compiling and running: `--json` objects
//! that parse and carry their documented fields, completion scripts, `--quiet`, hints
//! after errors, the exit-code table of docs/cli.md, and no colour codes off a terminal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neoc_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neoc"));
    c.args(args).env_remove("NO_COLOR");
    c
}

fn neoc(args: &[&str]) -> Output {
    neoc_cmd(args).output().expect("neoc runs")
}

fn testmodels() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn compile_mlp(dir: &Path) -> PathBuf {
    let out = dir.join("mlp.neo");
    let model = testmodels().join("models/mlp/model.onnx");
    let o = neoc(&["compile", s(&model), "-o", s(&out), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Asserts exit `code`, an `error:` first line naming every needle, and no panic.
fn assert_exit(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

#[test]
fn inspect_json_of_an_artifact_and_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path());
    let v = json(&neoc(&["inspect", s(&art), "--json"]));
    assert_eq!(v["schema"], 1);
    assert_eq!(v["kind"], "artifact");
    assert_eq!(v["target"]["name"], "x86_64");
    assert_eq!(v["inputs"][0]["name"], "input");
    assert_eq!(v["inputs"][0]["dtype"], "float32");
    assert_eq!(v["inputs"][0]["shape"], serde_json::json!([4, 64]));
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([4, 10]));
    let variants = v["variants"].as_array().unwrap();
    assert_eq!(variants[0]["name"], "avx512");
    assert!(variants.iter().all(|x| x["runs_here"].is_boolean()));
    assert!(v["plan"]["steps"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(v["plan"]["arena_bytes"].is_u64());
    assert!(v["weights_bytes"].as_u64().unwrap() >= (64 * 128 + 128 * 10) * 4);
    assert_eq!(v["metadata"]["opt_level"], "2");

    let model = testmodels().join("models/lenet/model.onnx");
    let v = json(&neoc(&["inspect", s(&model), "--json"]));
    assert_eq!(v["kind"], "model");
    assert_eq!(v["op_counts"]["Conv"], 2);
    assert!(v["flops"].as_u64().unwrap() > 0);
    assert!(v["flops_by_op"]["Conv"].as_u64().unwrap() > 0);
    assert!(v["inputs"][0]["shape"].is_array());
}

#[test]
fn bench_json_has_latencies_and_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path());
    let o = neoc(&[
        "bench",
        s(&art),
        "--iterations",
        "4",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["iterations"], 4);
    assert_eq!(v["threads"], 1);
    assert_eq!(v["samples_ms"].as_array().map(Vec::len), Some(4));
    let lat = &v["latency_ms"];
    let (min, med, max) = (
        lat["min"].as_f64().unwrap(),
        lat["median"].as_f64().unwrap(),
        lat["max"].as_f64().unwrap(),
    );
    assert!(min <= med && med <= max, "{lat}");
    assert!(v["throughput_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = neoc(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(
            script.contains("neoc") && script.contains("compile") && script.contains("--target"),
            "{shell}: {script}"
        );
    }
    // Paths complete as files (zsh's `_files`), from the arguments' value hints.
    assert!(stdout(&neoc(&["completions", "zsh"])).contains("_files"));
    assert_exit(&neoc(&["completions", "tcsh"]), 2, &["tcsh"]);
}

#[test]
fn quiet_prints_nothing_on_success() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tmp.path().join("m.neo");
    let model = testmodels().join("models/mlp/model.onnx");
    for args in [
        vec!["compile", s(&model), "-o", s(&art), "--quiet"],
        vec!["-q", "compile", s(&model), "-o", s(&art)],
    ] {
        let o = neoc(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!((stdout(&o), stderr(&o)), (String::new(), String::new()));
    }
    let input = testmodels().join("models/mlp/inputs/input.npy");
    let out_dir = tmp.path().join("out");
    let o = neoc(&[
        "run",
        s(&art),
        "-i",
        s(&input),
        "--output-dir",
        s(&out_dir),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((stdout(&o), stderr(&o)), (String::new(), String::new()));
    assert!(out_dir.join("output.npy").exists());
    // Without --quiet, the same commands say what they did.
    let o = neoc(&["compile", s(&model), "-o", s(&art)]);
    assert!(stdout(&o).contains("compiled"), "{}", stdout(&o));
}

#[test]
fn errors_carry_hints() {
    let tmp = tempfile::tempdir().unwrap();
    // An MXNet symbol records no input shapes: the hint names the real input.
    let sym = testmodels().join("mxnet/models/mlp/model-symbol.json");
    let o = neoc(&["compile", s(&sym), "-o", s(&tmp.path().join("x.neo"))]);
    assert_exit(&o, 1, &["\nhint: pass --input-shape data="]);
    // An unknown target: the known ones, and where to read about them.
    let model = testmodels().join("models/mlp/model.onnx");
    let o = neoc(&["compile", s(&model), "--target", "mips", "-o", "/dev/null"]);
    assert_exit(&o, 2, &["mips", "x86_64-avx2", "hint: `neoc targets`"]);
    // An unsupported operator: `neoc check` lists them all.
    let bad = testmodels().join("errors/unsupported_op.onnx");
    let o = neoc(&["compile", s(&bad), "-o", "/dev/null"]);
    assert_exit(&o, 1, &["RandomUniformLike", "hint: `neoc check "]);
    // A missing file.
    let o = neoc(&["compile", "/nonexistent/model.onnx"]);
    assert_exit(
        &o,
        1,
        &["hint: there is no file at /nonexistent/model.onnx"],
    );
    // A wrong input shape at run: the expected one.
    let art = compile_mlp(tmp.path());
    let wrong = testmodels().join("models/lenet/inputs/input.npy");
    let o = neoc(&["run", s(&art), "-i", s(&wrong)]);
    assert_exit(
        &o,
        3,
        &["hint: input \"input\" must be a .npy of float32[4,64]"],
    );
    // An artifact for CPU features this one lacks: what to compile for.
    let avx512 = tmp.path().join("avx512.neo");
    let o = neoc(&[
        "compile",
        s(&model),
        "--target",
        "x86_64-avx512",
        "-o",
        s(&avx512),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = testmodels().join("models/mlp/inputs/input.npy");
    let o = neoc_cmd(&["run", s(&avx512), "-i", s(&input)])
        .env("NEOC_CPU_FEATURES_MASK", "avx512f,avx512bw")
        .output()
        .unwrap();
    assert_exit(
        &o,
        3,
        &["hint: compile the model for this CPU: neoc compile MODEL --target"],
    );
}

#[test]
fn exit_codes_follow_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let model = testmodels().join("models/mlp/model.onnx");
    // 0: success.
    assert_eq!(neoc(&["targets"]).status.code(), Some(0));
    // 1: the model cannot be compiled.
    let garbage = testmodels().join("errors/garbage.onnx");
    assert_exit(
        &neoc(&["compile", s(&garbage), "-o", "/dev/null"]),
        1,
        &["garbage.onnx"],
    );
    // 2: usage, from the parser or a flag value.
    assert_exit(
        &neoc(&["compile", s(&model), "--no-such-flag"]),
        2,
        &["--no-such-flag"],
    );
    assert_exit(&neoc(&["frobnicate"]), 2, &[]);
    assert_exit(
        &neoc(&[
            "compile",
            s(&model),
            "--input-shape",
            "input",
            "-o",
            "/dev/null",
        ]),
        2,
        &["NAME=D0,D1"],
    );
    let o = neoc(&[
        "compile",
        s(&model),
        "--disable-pass",
        "nope",
        "-o",
        "/dev/null",
    ]);
    assert_exit(&o, 2, &["nope"]);
    let o = neoc(&["check", s(&model), "--target", "mips"]);
    assert_exit(&o, 2, &["mips", "hint: `neoc targets`"]);
    // 3: an artifact that cannot be loaded or run.
    let art = compile_mlp(tmp.path());
    let bytes = std::fs::read(&art).unwrap();
    let cut = tmp.path().join("cut.neo");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_exit(&neoc(&["run", s(&cut)]), 3, &["cut.neo"]);
    assert_exit(&neoc(&["inspect", s(&cut)]), 3, &["cut.neo"]);
    assert_exit(&neoc(&["run", s(&art)]), 3, &["missing input"]);
}

#[test]
fn colour_only_when_asked_off_a_terminal() {
    let model = testmodels().join("models/mlp/model.onnx");
    let args = ["compile", s(&model), "--target", "mips", "-o", "/dev/null"];
    // Captured output is no terminal: plain text, whatever NO_COLOR says.
    let o = neoc(&args);
    assert!(stderr(&o).starts_with("error: "), "{:?}", stderr(&o));
    assert!(!stderr(&o).contains('\x1b'), "{:?}", stderr(&o));
    // --color always forces it, --color never and NO_COLOR keep it off.
    let o = neoc(&[&args[..], &["--color", "always"]].concat());
    assert!(stderr(&o).contains("\x1b["), "{:?}", stderr(&o));
    let o = neoc_cmd(&[&args[..], &["--color=never"]].concat())
        .output()
        .unwrap();
    assert!(!stderr(&o).contains('\x1b'));
    let o = neoc_cmd(&args).env("NO_COLOR", "1").output().unwrap();
    assert!(!stderr(&o).contains('\x1b'));
    // Successful output and the progress line stay plain too.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.neo");
    let o = neoc(&["compile", s(&model), "-o", s(&out)]);
    assert!(o.status.success());
    assert!(
        !stdout(&o).contains('\x1b') && stderr(&o).is_empty(),
        "{:?}",
        stderr(&o)
    );
}
