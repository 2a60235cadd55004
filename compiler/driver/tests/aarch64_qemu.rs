//! AArch64, proven under emulation: every model under `testmodels/models/` is compiled for
//! `--target aarch64`, run by the runtime cross-built for aarch64-unknown-linux-gnu (the
//! `run_npy` example: runtime + `.npy` IO, no LLVM) under `qemu-aarch64`, and compared
//! with the same onnxruntime references as on x86-64. The baseline runs on an emulated
//! Cortex-A53 (ARMv8.0-A), so an instruction newer than the target allows would trap.
//! Feature gating is shown with `-cpu`: an artifact for Neoverse N1/V1 is refused by the
//! runtime's hwcap check on older cores, with a message, not by SIGILL. The int8 models
//! of `testmodels/quant` run in each of the three int8 dot-product forms (portable,
//! `sdot`, `usdot`) on an emulated core with exactly the extensions the form needs.
//!
//! Needs `qemu-aarch64`, the `aarch64-linux-gnu-gcc` linker with its libc
//! (`apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross`) and the Rust
//! target (`rustup target add aarch64-unknown-linux-gnu`). When one is missing the tests
//! print why and pass, unless `NEOC_REQUIRE_QEMU=1` (set by CI) makes that a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::{Model, RuntimeError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const TRIPLE: &str = "aarch64-unknown-linux-gnu";
const LINKER: &str = "aarch64-linux-gnu-gcc";
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    repo().join("testmodels/models")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("aarch64-qemu")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// What is missing to cross-build and emulate, if anything.
fn missing_tools() -> Vec<String> {
    let mut missing = Vec::new();
    if !on_path("qemu-aarch64") {
        missing.push("qemu-aarch64 (apt-get install qemu-user)".to_string());
    }
    if !on_path(LINKER) {
        missing.push(format!("{LINKER} (apt-get install gcc-aarch64-linux-gnu)"));
    }
    if !Path::new(SYSROOT).join("lib/libc.so.6").exists() {
        missing.push(format!(
            "{SYSROOT}/lib/libc.so.6 (apt-get install libc6-dev-arm64-cross)"
        ));
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let has_std = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TRIPLE])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|dir| {
            std::fs::read_dir(dir).is_ok_and(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
            })
        });
    if !has_std {
        missing.push(format!(
            "the Rust standard library for {TRIPLE} (rustup target add {TRIPLE})"
        ));
    }
    missing
}

/// `true` when the tools are there; otherwise prints what is missing (visible with or
/// without `--nocapture`, on stderr) and, when `NEOC_REQUIRE_QEMU=1`, fails.
fn tools_present(test: &str) -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "SKIPPED {test}: AArch64 emulation needs {}",
        missing.join(", ")
    );
    assert!(
        std::env::var("NEOC_REQUIRE_QEMU").as_deref() != Ok("1"),
        "{msg} (NEOC_REQUIRE_QEMU=1)"
    );
    // Written to the stderr handle, not with eprintln!, which the test harness captures.
    let _ = writeln!(std::io::stderr(), "{msg}");
    false
}

/// The `run_npy` example of `neoc-runtime`, cross-built once per test process (release,
/// in its own target directory so the outer `cargo test`'s build lock is not needed).
fn runner() -> &'static Path {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aarch64-runner");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(repo())
            .args([
                "build",
                "--release",
                "-p",
                "neoc-runtime",
                "--example",
                "run_npy",
            ])
            .args(["--target", TRIPLE, "--target-dir"])
            .arg(&target_dir)
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", LINKER)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cross-building the runner failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir.join(TRIPLE).join("release/examples/run_npy")
    })
}

/// Runs the cross-built runner under `qemu-aarch64 -cpu <cpu>`.
fn qemu(cpu: &str, artifact: &Path, inputs: &Path, outputs: &Path) -> Output {
    Command::new("qemu-aarch64")
        .args(["-L", SYSROOT, "-cpu", cpu])
        .arg(runner())
        .args([artifact, inputs, outputs])
        .output()
        .unwrap()
}

fn compile(model: &str, target: &str, dir: &Path) -> PathBuf {
    let opts = CompileOptions {
        target: target.into(),
        ..CompileOptions::default()
    };
    let (artifact, _) = compile_file(&models_dir().join(model).join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{model} for {target}: {e}"));
    let path = dir.join(format!("{model}.{target}.neo"));
    std::fs::write(&path, artifact.to_bytes()).unwrap();
    path
}

/// Every reference output of the test case in `model` (`expected/*.npy`) next to what a
/// run wrote under the same name in `out`: (file name, (shape, reference), (shape, got)).
#[allow(clippy::type_complexity)]
fn expected_and_got(
    model: &Path,
    out: &Path,
) -> Vec<(String, (Vec<u64>, Vec<f64>), (Vec<u64>, Vec<f64>))> {
    std::fs::read_dir(model.join("expected"))
        .unwrap()
        .map(|e| {
            let want_path = e.unwrap().path();
            let file = want_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let got = read_values(&out.join(&file));
            (file, read_values(&want_path), got)
        })
        .collect()
}

/// A `.npy` file's values as `f64`.
fn read_values(path: &Path) -> (Vec<u64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => panic!("{}: {other:?}", path.display()),
    };
    let values = match descr.as_str() {
        "<f4" => npy
            .into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        "<i8" => npy
            .into_vec::<i64>()
            .unwrap()
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        "|i1" => npy
            .into_vec::<i8>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        "<i4" => npy
            .into_vec::<i32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        "|u1" => npy
            .into_vec::<u8>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        "|b1" => npy
            .into_vec::<bool>()
            .unwrap()
            .into_iter()
            .map(|b| f64::from(u8::from(b)))
            .collect(),
        other => panic!("{}: unsupported dtype {other}", path.display()),
    };
    (shape, values)
}

/// Compares every output in `out` with the model's references; returns the failures.
fn compare(model: &str, out: &Path, label: &str) -> Vec<String> {
    let dir = models_dir().join(model);
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let (rtol, atol) = (
        case["rtol"].as_f64().unwrap(),
        case["atol"].as_f64().unwrap(),
    );
    let mut failures = Vec::new();
    for e in std::fs::read_dir(dir.join("expected")).unwrap() {
        let want_path = e.unwrap().path();
        let name = want_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let got_path = out.join(&name);
        if !got_path.exists() {
            failures.push(format!("{model}/{name}: no output written"));
            continue;
        }
        let (want_shape, want) = read_values(&want_path);
        let (got_shape, got) = read_values(&got_path);
        if want_shape != got_shape {
            failures.push(format!(
                "{model}/{name}: shape {got_shape:?}, want {want_shape:?}"
            ));
            continue;
        }
        let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, 0usize);
        for (g, w) in got.iter().zip(&want) {
            let abs = (g - w).abs();
            let ok = abs <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan());
            if abs.is_finite() {
                max_abs = max_abs.max(abs);
                if *w != 0.0 {
                    max_rel = max_rel.max(abs / w.abs());
                }
            }
            bad += usize::from(!ok);
        }
        println!(
            "{model}/{name} [{label}]: max abs err {max_abs:.3e}, max rel err {max_rel:.3e}, \
             {bad} of {} outside rtol {rtol} atol {atol}",
            want.len()
        );
        if bad > 0 {
            failures.push(format!(
                "{model}/{name}: {bad} elements out of tolerance (max abs {max_abs:.3e})"
            ));
        }
    }
    failures
}

/// Every committed test model, compiled for the NEON baseline and run on an emulated
/// Cortex-A53, matches the onnxruntime references.
#[test]
fn every_model_matches_references_under_qemu() {
    if !tools_present("every_model_matches_references_under_qemu") {
        return;
    }
    let dir = scratch("models");
    let mut names: Vec<String> = std::fs::read_dir(models_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        let t = std::time::Instant::now();
        let artifact = compile(name, "aarch64", &dir);
        let compile_s = t.elapsed().as_secs_f64();
        let out = dir.join(format!("{name}.out"));
        let t = std::time::Instant::now();
        let run = qemu(
            "cortex-a53",
            &artifact,
            &models_dir().join(name).join("inputs"),
            &out,
        );
        let label = format!(
            "aarch64 under qemu -cpu cortex-a53, compiled in {compile_s:.1}s, ran in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        if !run.status.success() {
            failures.push(format!(
                "{name}: runner failed ({}): {}",
                run.status,
                String::from_utf8_lossy(&run.stderr).trim()
            ));
            continue;
        }
        failures.extend(compare(name, &out, &label));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An artifact for a newer core is refused by the runtime's hwcap check on an older one
/// (exit status 1 and a message naming the missing extensions; no SIGILL), and runs on a
/// core that has them.
#[test]
fn newer_core_artifacts_are_refused_on_older_cores() {
    if !tools_present("newer_core_artifacts_are_refused_on_older_cores") {
        return;
    }
    let dir = scratch("gating");
    let inputs = models_dir().join("lenet/inputs");
    // (target, emulated core, expected: Ok = runs, Err(missing feature named))
    let cases: [(&str, &str, Result<(), &str>); 6] = [
        ("aarch64-neoverse-n1", "cortex-a53", Err("dotprod")),
        ("aarch64-neoverse-n1", "cortex-a72", Err("dotprod")),
        ("aarch64-neoverse-n1", "neoverse-n1", Ok(())),
        ("aarch64-neoverse-v1", "neoverse-n1", Err("i8mm")),
        ("aarch64-neoverse-v1", "max", Ok(())),
        ("aarch64-cortex-a72", "cortex-a72", Ok(())),
    ];
    let mut failures = Vec::new();
    for (target, cpu, expect) in cases {
        let artifact = dir.join(format!("lenet.{target}.neo"));
        if !artifact.exists() {
            compile("lenet", target, &dir);
        }
        let out = dir.join(format!("{target}.{cpu}.out"));
        let run = qemu(cpu, &artifact, &inputs, &out);
        let stderr = String::from_utf8_lossy(&run.stderr);
        println!("{target} on -cpu {cpu}: {} {}", run.status, stderr.trim());
        match expect {
            Ok(()) if run.status.success() => {
                failures.extend(compare("lenet", &out, &format!("{target} on {cpu}")));
            }
            Err(feature)
                if run.status.code() == Some(1)
                    && stderr.contains("needs CPU features")
                    && stderr.contains(feature) => {}
            _ => failures.push(format!(
                "{target} on -cpu {cpu}: expected {expect:?}, got {}: {}",
                run.status,
                stderr.trim()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The runtime's own test suite (loader, arena, thread pool, hwcap decoding, errors),
/// cross-built and run under qemu-aarch64 through the `runner` of `.cargo/config.toml`;
/// its fixtures' C kernels come from the cross compiler (`CC`).
#[test]
fn runtime_test_suite_passes_under_qemu() {
    if !tools_present("runtime_test_suite_passes_under_qemu") {
        return;
    }
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aarch64-runner");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo())
        .args([
            "test",
            "-p",
            "neoc-runtime",
            // Not the doc examples: they load the committed x86-64 doc artifact.
            "--lib",
            "--tests",
            "--target",
            TRIPLE,
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", LINKER)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            format!("qemu-aarch64 -L {SYSROOT}"),
        )
        .env("CC", LINKER)
        // Host build scripts that compile C (psm, under npyz's dev-dependency tree) must
        // not get the cross compiler: the cc crate prefers this over `CC` for the host.
        .env("CC_x86_64_unknown_linux_gnu", "cc")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.starts_with("test result")) {
        println!("neoc-runtime on aarch64: {line}");
    }
    assert!(
        out.status.success() && !stdout.contains("SKIPPED"),
        "neoc-runtime's tests failed under qemu-aarch64:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Loading an AArch64 artifact on another architecture is a typed error naming both.
#[cfg(not(target_arch = "aarch64"))]
#[test]
fn aarch64_artifact_is_refused_on_this_host() {
    let dir = scratch("wrong-arch");
    let path = compile("mlp", "aarch64", &dir);
    let err = Model::load(&path).expect_err("an AArch64 artifact must not load here");
    assert!(matches!(err, RuntimeError::WrongArch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("aarch64") && msg.contains(std::env::consts::ARCH),
        "{msg}"
    );
}

/// `--precision fp16|bf16` on AArch64 (`fcvt` from ARMv8.0, integer shifts for bf16):
/// LeNet, MobileNet-v2 and the BERT-style encoder on an emulated Cortex-A53 stay within
/// the precision's bound of the references (largest error over the largest reference
/// magnitude; `docs/cuda.md`, "Precision").
#[test]
fn fp16_and_bf16_match_references_under_qemu() {
    if !tools_present("fp16_and_bf16_match_references_under_qemu") {
        return;
    }
    let dir = scratch("precision");
    let mut failures = Vec::new();
    for (p, tol) in [
        (neoc_kernel::Precision::F16, 1e-2),
        (neoc_kernel::Precision::BF16, 5e-2),
    ] {
        for name in ["lenet", "mobilenet_v2", "bert_encoder"] {
            let opts = CompileOptions {
                target: "aarch64".into(),
                precision: p,
                ..CompileOptions::default()
            };
            let model = models_dir().join(name);
            let (artifact, _) = compile_file(&model.join("model.onnx"), &opts)
                .unwrap_or_else(|e| panic!("{name} {}: {e}", p.name()));
            let path = dir.join(format!("{name}.{}.neo", p.name()));
            std::fs::write(&path, artifact.to_bytes()).unwrap();
            let out = dir.join(format!("{name}.{}.out", p.name()));
            let run = qemu("cortex-a53", &path, &model.join("inputs"), &out);
            if !run.status.success() {
                failures.push(format!(
                    "{name} {}: runner failed ({}): {}",
                    p.name(),
                    run.status,
                    String::from_utf8_lossy(&run.stderr).trim()
                ));
                continue;
            }
            for (file, (_, want), (_, got)) in expected_and_got(&model, &out) {
                let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
                let err = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (g - w).abs())
                    .fold(
                        0f64,
                        |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
                    )
                    / scale;
                println!(
                    "{name}/{} [aarch64 {}]: error {err:.3e} of the largest reference value",
                    file,
                    p.name()
                );
                if err > tol || got.len() != want.len() {
                    failures.push(format!(
                        "{name}/{} {}: error {err:.3e} > {tol}",
                        file,
                        p.name()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn quant_dir() -> PathBuf {
    repo().join("testmodels/quant")
}

/// The AArch64 int8 dot-product forms, each with an emulated core that has exactly its
/// extensions (so an instruction of a newer form would trap): (target, `-cpu`).
const INT8_TARGETS: [(&str, &str); 4] = [
    // Widening multiplies (ARMv8.0).
    ("aarch64", "cortex-a53"),
    // `sdot`, the activations presented as i8.
    ("aarch64-cortex-a76", "cortex-a76"),
    ("aarch64-neoverse-n1", "neoverse-n1"),
    // `usdot` (i8mm): u8 activations as they are.
    ("aarch64-neoverse-v1", "max"),
];

/// (signed, mixed-sign) byte dot-product instructions in AArch64 code: the words that
/// encode `SDOT` (vector or by element), or `USDOT`/`SUDOT`.
fn dot_instructions(code: &[u8]) -> (usize, usize) {
    let mut n = (0, 0);
    for b in code.chunks_exact(4) {
        let w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        // Q (bit 30) and the register fields masked.
        let (vector, element) = (w & 0xBFE0_FC00, w & 0xBFC0_F400);
        if vector == 0x0E80_9400 || element == 0x0F80_E000 {
            n.0 += 1;
        }
        if vector == 0x0E80_9C00 || element == 0x0F80_F000 || element == 0x0F00_F000 {
            n.1 += 1;
        }
    }
    n
}

/// The dot-product form of `target`'s code, when it is not the expected one: none on
/// ARMv8.0, `sdot` and no mixed-sign one on the dotprod cores, `usdot` with i8mm.
fn wrong_dot_form(target: &str, code: &[u8]) -> Option<String> {
    let (sdot, usdot) = dot_instructions(code);
    let ok = match target {
        "aarch64" => sdot == 0 && usdot == 0,
        "aarch64-neoverse-v1" => usdot > 0,
        _ => sdot > 0 && usdot == 0,
    };
    (!ok).then(|| format!("{target}: {sdot} sdot, {usdot} usdot/sudot instructions"))
}

/// Compiles `dir/model.onnx` for `target` (with input shape overrides) into `out_dir`;
/// the artifact's path, and a failure when its code has the wrong dot-product form.
fn compile_quant(
    dir: &Path,
    target: &str,
    input_shapes: &[(String, Vec<u64>)],
    out_dir: &Path,
) -> (PathBuf, Option<String>) {
    let opts = CompileOptions {
        target: target.into(),
        input_shapes: input_shapes.to_vec(),
        ..CompileOptions::default()
    };
    let (artifact, _) = compile_file(&dir.join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{} for {target}: {e}", dir.display()));
    let name = dir.file_name().unwrap().to_string_lossy();
    let path = out_dir.join(format!("{name}.{target}.neo"));
    std::fs::write(&path, artifact.to_bytes()).unwrap();
    let wrong = wrong_dot_form(target, &artifact.variants[0].code);
    (path, wrong.map(|w| format!("{name}: {w}")))
}

/// Runs an artifact under qemu; the failure message when the runner fails.
fn run_quant(cpu: &str, artifact: &Path, inputs: &Path, out: &Path) -> Result<(), String> {
    let t = std::time::Instant::now();
    let run = qemu(cpu, artifact, inputs, out);
    println!(
        "{} on -cpu {cpu}: ran in {:.1}s",
        artifact.file_name().unwrap().to_string_lossy(),
        t.elapsed().as_secs_f64()
    );
    if run.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}: runner failed on -cpu {cpu} ({}): {}",
        artifact.display(),
        run.status,
        String::from_utf8_lossy(&run.stderr).trim()
    ))
}

/// The hand-built operator cases (`quantized_models.rs`'s tolerances): i32 outputs and the
/// u8 MaxPool identical to onnxruntime's, requantized u8/i8 ones within one quantum.
#[test]
fn int8_operator_models_match_onnxruntime_under_qemu() {
    if !tools_present("int8_operator_models_match_onnxruntime_under_qemu") {
        return;
    }
    let dir = scratch("int8-ops");
    let mut failures = Vec::new();
    for case in ["qop_ops", "qop_pool", "qop_depthwise"] {
        let model = quant_dir().join(case);
        for (target, cpu) in INT8_TARGETS {
            let (artifact, wrong) = compile_quant(&model, target, &[], &dir);
            // Depthwise convolutions run a direct kernel, without dot products.
            if case != "qop_depthwise" {
                failures.extend(wrong);
            }
            let out = dir.join(format!("{case}.{target}.out"));
            if let Err(e) = run_quant(cpu, &artifact, &model.join("inputs"), &out) {
                failures.push(e);
                continue;
            }
            for (file, (want_shape, want), (got_shape, got)) in expected_and_got(&model, &out) {
                let diff = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (g - w).abs())
                    .fold(0f64, f64::max);
                let off = got.iter().zip(&want).filter(|(g, w)| g != w).count();
                println!(
                    "{case}/{file} [{target} on -cpu {cpu}]: max diff {diff}, {off} of {} differ",
                    want.len()
                );
                let exact = file.ends_with("_i32.npy") || file == "pool.npy";
                let allowed = if exact { 0.0 } else { 1.0 };
                if got_shape != want_shape || diff > allowed {
                    failures.push(format!(
                        "{case}/{file} [{target}]: shape {got_shape:?} (want {want_shape:?}), \
                         max diff {diff} (allowed {allowed})"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The trained digits CNN quantized by onnxruntime (QDQ, QOperator, QDQ with i8
/// activations), compiled for all 360 test images at once: test-set accuracy within half
/// a point of onnxruntime's on the same model, logits cosine ≥ 0.99 to onnxruntime's on
/// every image (`quantized_models.rs`'s criteria).
#[test]
fn int8_digits_models_match_onnxruntime_under_qemu() {
    if !tools_present("int8_digits_models_match_onnxruntime_under_qemu") {
        return;
    }
    let dir = scratch("int8-digits");
    let test = quant_dir().join("digits/test");
    let inputs = dir.join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::copy(test.join("x.npy"), inputs.join("input.npy")).unwrap();
    let (_, labels) = read_values(&test.join("y.npy"));
    let shapes = [("input".to_string(), vec![labels.len() as u64, 1, 8, 8])];
    let mut failures = Vec::new();
    for name in ["digits_qdq", "digits_qop", "digits_qdq_s8"] {
        let model = quant_dir().join(name);
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.join("case.json")).unwrap())
                .unwrap();
        let ort = case["test_accuracy"].as_f64().unwrap();
        let (_, want) = read_values(&model.join("expected/test_logits.npy"));
        for (target, cpu) in INT8_TARGETS {
            let (artifact, wrong) = compile_quant(&model, target, &shapes, &dir);
            failures.extend(wrong);
            let out = dir.join(format!("{name}.{target}.out"));
            if let Err(e) = run_quant(cpu, &artifact, &inputs, &out) {
                failures.push(e);
                continue;
            }
            let (shape, logits) = read_values(&out.join("output.npy"));
            assert_eq!(shape, [labels.len() as u64, 10], "{name} [{target}]");
            let rows = || logits.chunks(10).zip(want.chunks(10));
            let right = logits
                .chunks(10)
                .zip(&labels)
                .filter(|(l, y)| argmax(l) as f64 == **y)
                .count();
            let acc = right as f64 / labels.len() as f64;
            let agree = rows().filter(|(a, b)| argmax(a) == argmax(b)).count();
            let worst = rows().map(|(a, b)| cosine(a, b)).fold(1.0, f64::min);
            println!(
                "{name} [{target} on -cpu {cpu}]: accuracy {acc:.4} (onnxruntime {ort:.4}), \
                 top-1 agrees with onnxruntime on {agree} of {}, worst logits cosine {worst:.5}",
                labels.len()
            );
            if (acc - ort).abs() > 0.005 || worst < 0.99 {
                failures.push(format!(
                    "{name} [{target}]: accuracy {acc} (onnxruntime {ort}), cosine {worst}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// MobileNet-v2 (seeded weights) quantized by onnxruntime in QDQ form, 53 int8
/// convolutions (depthwise ones too): same top-1 class as onnxruntime and logits cosine
/// ≥ 0.99 in every dot-product form.
#[test]
fn int8_mobilenet_v2_matches_onnxruntime_under_qemu() {
    if !tools_present("int8_mobilenet_v2_matches_onnxruntime_under_qemu") {
        return;
    }
    let dir = scratch("int8-mobilenet");
    let model = quant_dir().join("mobilenet_v2_qdq");
    let (_, want) = read_values(&model.join("expected/output.npy"));
    let mut failures = Vec::new();
    for (target, cpu) in INT8_TARGETS {
        let (artifact, wrong) = compile_quant(&model, target, &[], &dir);
        failures.extend(wrong);
        let out = dir.join(format!("{target}.out"));
        if let Err(e) = run_quant(cpu, &artifact, &model.join("inputs"), &out) {
            failures.push(e);
            continue;
        }
        let (_, got) = read_values(&out.join("output.npy"));
        let cos = cosine(&got, &want);
        println!(
            "mobilenet_v2_qdq [{target} on -cpu {cpu}]: cosine {cos:.5}, top-1 {} (onnxruntime {})",
            argmax(&got),
            argmax(&want)
        );
        if cos < 0.99 || argmax(&got) != argmax(&want) {
            failures.push(format!("mobilenet_v2_qdq [{target}]: cosine {cos}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Dynamically quantized models (`quantize_dynamic`: a run-time activation zero point,
/// which the `sdot` levels shift by 128 in the epilogue rather than at compile time) in
/// every dot-product form, with `quantized_models.rs`'s criteria: the MLP and the
/// convolution identical to onnxruntime, the encoder within relative L2 error 1e-4 and
/// cosine 0.9999 (its LayerNorm, Softmax and GELU round differently from onnxruntime's).
#[test]
fn int8_dynamic_models_match_onnxruntime_under_qemu() {
    if !tools_present("int8_dynamic_models_match_onnxruntime_under_qemu") {
        return;
    }
    let dir = scratch("int8-dynamic");
    let mut failures = Vec::new();
    for (name, exact) in [("mlp_dyn", true), ("conv_dyn", true), ("bert_dyn", false)] {
        let model = quant_dir().join(name);
        for (target, cpu) in INT8_TARGETS {
            let (artifact, wrong) = compile_quant(&model, target, &[], &dir);
            failures.extend(wrong);
            let out = dir.join(format!("{name}.{target}.out"));
            if let Err(e) = run_quant(cpu, &artifact, &model.join("inputs"), &out) {
                failures.push(e);
                continue;
            }
            for (file, (want_shape, want), (got_shape, got)) in expected_and_got(&model, &out) {
                let err2: f64 = got.iter().zip(&want).map(|(g, w)| (g - w) * (g - w)).sum();
                let rel_l2 = (err2 / want.iter().map(|w| w * w).sum::<f64>()).sqrt();
                let cos = cosine(&got, &want);
                let off = got.iter().zip(&want).filter(|(g, w)| g != w).count();
                println!(
                    "{name}/{file} [{target} on -cpu {cpu}]: relative L2 {rel_l2:.3e}, \
                     cosine {cos:.7}, {off} of {} differ",
                    want.len()
                );
                let close = if exact {
                    off == 0
                } else {
                    rel_l2 <= 1e-4 && cos >= 0.9999
                };
                if got_shape != want_shape || !close {
                    failures.push(format!(
                        "{name}/{file} [{target}]: shape {got_shape:?} (want {want_shape:?}), \
                         relative L2 {rel_l2}, cosine {cos}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
