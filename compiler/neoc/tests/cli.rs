//! The `neoc` binary end to end: compile, run, inspect, targets, and every error path a
//! user can hit (each must exit 1 with a message naming what and where, never panic).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn neoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(args)
        .output()
        .expect("neoc runs")
}

fn neoc_env(args: &[&str], env: (&str, &str)) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(args)
        .env(env.0, env.1)
        .output()
        .expect("neoc runs")
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

/// Asserts a clean failure: exit code 1, an `error:` line containing every needle, no panic.
fn assert_fails(o: &Output, needles: &[&str]) {
    assert_fails_with(o, 1, needles)
}

/// As [`assert_fails`] with another exit code (docs/cli.md: 2 usage, 3 runtime).
fn assert_fails_with(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

fn compile_mlp(dir: &Path, target: &str) -> PathBuf {
    let out = dir.join("mlp.neo");
    let model = testmodels().join("models/mlp/model.onnx");
    let o = neoc(&["compile", s(&model), "--target", target, "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

fn read_f32(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn targets_lists_names() {
    let o = neoc(&["targets"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for t in ["x86_64", "x86_64-avx2", "x86_64-avx512", "host"] {
        assert!(out.contains(t), "{out}");
    }
}

#[test]
fn compile_run_writes_outputs_matching_onnxruntime() {
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path(), "x86_64");
    let input = testmodels().join("models/mlp/inputs/input.npy");
    let out_dir = tmp.path().join("out");
    let arg = format!("input={}", s(&input));
    let o = neoc(&["run", s(&art), "--input", &arg, "--output-dir", s(&out_dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (shape, got) = read_f32(&out_dir.join("output.npy"));
    let (wshape, want) = read_f32(&testmodels().join("models/mlp/expected/output.npy"));
    assert_eq!(shape, wshape);
    let max_abs = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("mlp via CLI: max abs err {max_abs:e}");
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5 + 1e-4 * b.abs(), "{a} vs {b}");
    }
}

#[test]
fn inspect_model_and_artifact() {
    let model = testmodels().join("models/lenet/model.onnx");
    let o = neoc(&["inspect", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in ["Conv", "Gemm", "input", "output", "FLOPs"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path(), "x86_64");
    let o = neoc(&["inspect", s(&art)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "avx512",
        "avx2",
        "x86-64-v3",
        "arena",
        "input float32[4,64]",
        "output float32[4,10]",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
}

#[test]
fn truncated_and_garbage_models_are_rejected() {
    for f in ["truncated.onnx", "garbage.onnx"] {
        let p = testmodels().join("errors").join(f);
        let o = neoc(&["compile", s(&p), "-o", "/dev/null"]);
        assert_fails(&o, &[f]);
    }
}

#[test]
fn unsupported_operator_is_named_with_its_node() {
    let p = testmodels().join("errors/unsupported_op.onnx");
    let o = neoc(&["compile", s(&p), "-o", "/dev/null"]);
    assert_fails(
        &o,
        &["unsupported_op.onnx", "RandomUniformLike", "my_random"],
    );
}

#[test]
fn check_lists_what_cannot_compile_and_sets_the_exit_status() {
    // Every unsupported operator at once, with opset and node names: exit 1.
    let p = testmodels().join("errors/unsupported_op.onnx");
    let o = neoc(&["check", s(&p)]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    for needle in [
        "not supported",
        "RandomUniformLike (opset 13)",
        "1 node \"my_random\"",
    ] {
        assert!(out.contains(needle), "stdout lacks {needle:?}: {out}");
    }
    // A node the import cannot build (a shape operand that must be constant) stops the
    // check with its name: exit 1.
    let p = testmodels().join("onnx-node/node/test_resize_upsample_sizes_cubic/model.onnx");
    let o = neoc(&["check", s(&p)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("\"Resize_0\" (Resize)"),
        "{}",
        stdout(&o)
    );
    // A fully supported model: exit 0.
    let p = testmodels().join("models/lenet/model.onnx");
    let o = neoc(&["check", s(&p)]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("supported: all 12 nodes"),
        "{}",
        stdout(&o)
    );
    // Not a model at all: an error, exit 1.
    let p = testmodels().join("errors/garbage.onnx");
    assert_fails(&neoc(&["check", s(&p)]), &["garbage.onnx"]);
}

#[test]
fn inspect_names_another_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lenet_aarch64.neo");
    let model = testmodels().join("models/lenet/model.onnx");
    let o = neoc(&[
        "compile",
        s(&model),
        "--target",
        "aarch64",
        "-o",
        s(&out),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = neoc(&["inspect", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    if std::env::consts::ARCH != "aarch64" {
        assert!(
            text.contains(&format!(
                "not on this machine: built for aarch64, this machine is {}",
                std::env::consts::ARCH
            )),
            "{text}"
        );
    }
}

#[test]
fn missing_model_file() {
    let o = neoc(&["compile", "/nonexistent/model.onnx"]);
    assert_fails(&o, &["/nonexistent/model.onnx"]);
}

#[test]
fn unknown_target_lists_known_ones() {
    let model = testmodels().join("models/mlp/model.onnx");
    let o = neoc(&["compile", s(&model), "--target", "mips", "-o", "/dev/null"]);
    assert_fails_with(&o, 2, &["mips", "x86_64-avx2"]);
}

#[test]
fn wrong_input_shape_and_missing_input_file() {
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path(), "x86_64");
    // lenet's input has the wrong shape for the MLP.
    let wrong = testmodels().join("models/lenet/inputs/input.npy");
    let arg = format!("input={}", s(&wrong));
    let o = neoc(&["run", s(&art), "--input", &arg]);
    assert_fails_with(&o, 3, &["input", "float32[4,64]", "float32[2,1,28,28]"]);

    let o = neoc(&["run", s(&art), "--input", "input=/nonexistent/x.npy"]);
    assert_fails_with(&o, 3, &["/nonexistent/x.npy"]);

    let o = neoc(&["run", s(&art)]);
    assert_fails_with(&o, 3, &["missing input", "input"]);

    let o = neoc(&["run", s(&art), "--input", "nosuch=/dev/null"]);
    assert_fails_with(&o, 3, &["nosuch"]);
}

#[test]
fn artifact_for_missing_cpu_features_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path(), "x86_64-avx512");
    let input = testmodels().join("models/mlp/inputs/input.npy");
    let arg = format!("input={}", s(&input));
    // Pretend this CPU lacks AVX-512.
    let o = neoc_env(
        &["run", s(&art), "--input", &arg],
        ("NEOC_CPU_FEATURES_MASK", "avx512f,avx512bw"),
    );
    assert_fails_with(&o, 3, &["mlp.neo", "avx512f"]);

    // The two-level artifact falls back to AVX2 on the same "CPU".
    let art2 = compile_mlp(tmp.path(), "x86_64");
    let o = neoc_env(
        &["run", s(&art2), "--input", &arg],
        ("NEOC_CPU_FEATURES_MASK", "avx512f,avx512bw"),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // A forged artifact that needs a feature no CPU has.
    let bytes = std::fs::read(&art2).unwrap();
    let mut a = neoc_artifact::Artifact::parse(&bytes).unwrap().to_owned();
    for v in &mut a.variants {
        v.required_features.push("neoc-test-nonexistent".into());
    }
    let forged = tmp.path().join("forged.neo");
    a.write_to(&forged).unwrap();
    let o = neoc(&["run", s(&forged), "--input", &arg]);
    assert_fails_with(&o, 3, &["forged.neo", "neoc-test-nonexistent"]);
}

#[test]
fn corrupt_and_truncated_artifacts_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let art = compile_mlp(tmp.path(), "x86_64");
    let bytes = std::fs::read(&art).unwrap();
    let input = testmodels().join("models/mlp/inputs/input.npy");
    let arg = format!("input={}", s(&input));

    let cut = tmp.path().join("cut.neo");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = neoc(&["run", s(&cut), "--input", &arg]);
    assert_fails_with(&o, 3, &["cut.neo", "truncated"]);

    let mut flipped = bytes.clone();
    let at = bytes.len() - 100;
    flipped[at] ^= 0x5a;
    let bad = tmp.path().join("flipped.neo");
    std::fs::write(&bad, &flipped).unwrap();
    let o = neoc(&["run", s(&bad), "--input", &arg]);
    assert_fails_with(&o, 3, &["flipped.neo"]);

    let garbage = testmodels().join("errors/garbage.onnx");
    let o = neoc(&["run", s(&garbage), "--input", &arg]);
    assert_fails_with(&o, 3, &["garbage.onnx"]);
}

#[test]
fn runtime_depends_on_no_compiler_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "neoc-runtime",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let tree = stdout(&o);
    for banned in [
        "inkwell",
        "llvm-sys",
        "prost",
        "protobuf",
        "petgraph",
        "neoc-ir",
        "cranelift",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(banned)),
            "neoc-runtime depends on {banned}:\n{tree}"
        );
    }
}

/// A minimal .npy (format 1.0) of int64 values.
fn write_i64_npy(path: &Path, values: &[i64]) {
    let mut header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn constant_input_binds_a_shape_operand() {
    let tmp = tempfile::tempdir().unwrap();
    let model = testmodels().join("onnx-node/node/test_tile/model.onnx");
    let out = tmp.path().join("tile.neo");
    // Without the binding the runtime `repeats` input cannot give a static shape.
    let o = neoc(&["compile", s(&model), "-o", s(&out)]);
    assert_fails(&o, &["Tile", "must be a constant"]);
    let reps = tmp.path().join("reps.npy");
    write_i64_npy(&reps, &[7, 6, 4, 2]);
    let arg = format!("y={}", s(&reps));
    let o = neoc(&[
        "compile",
        s(&model),
        "--constant-input",
        &arg,
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = neoc(&["inspect", s(&out)]);
    let text = stdout(&o);
    assert!(text.contains("z float32[14,18,16,10]"), "{text}");
    assert!(
        !text.contains("  y "),
        "the bound input left the signature: {text}"
    );
    // A value that contradicts the declared input is refused, naming it.
    write_i64_npy(&reps, &[7, 6, 4]);
    let o = neoc(&[
        "compile",
        s(&model),
        "--constant-input",
        &arg,
        "-o",
        s(&out),
    ]);
    assert_fails(&o, &["--constant-input y", "i64[3]"]);
}

/// Output into a pipe whose reader has gone (`neoc ... | head`) ends neoc quietly, by
/// SIGPIPE like other tools, never with a panic.
#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::process::Stdio;
    let model = testmodels().join("models/resnet18/model.onnx");
    let mut child = Command::new(env!("CARGO_BIN_EXE_neoc"))
        .args(["inspect", s(&model), "--ir"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("neoc runs");
    // Close the read end before neoc writes its (long) IR listing.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("neoc finishes");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
}
