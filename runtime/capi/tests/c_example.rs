//! examples/c/classify.c, compiled with the system C compiler against libneoc.a and
//! libneoc.so, classifies lenet's stored input; the printed classes must be the argmax
//! of the onnxruntime reference output. Skipped, with a message, without a C compiler.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Where cargo put the libneoc.{a,so} built for this test run: beside the test binary
/// (target/<profile>/deps/; `cargo build` also copies them to target/<profile>/).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    if deps.join("libneoc.a").exists() {
        deps
    } else {
        deps.parent().unwrap().to_path_buf()
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// Compiles classify.c with `link` arguments; `None` if there is no C compiler.
fn build_example(out: &Path, link: &[String]) -> Option<()> {
    match Command::new(cc()).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!(
                "SKIPPED: no C compiler (`{}`) to build examples/c/classify.c",
                cc()
            );
            return None;
        }
    }
    let status = Command::new(cc())
        .args([
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c11",
            "-pedantic",
            "-I",
        ])
        .arg(repo().join("runtime/capi/include"))
        .arg(repo().join("examples/c/classify.c"))
        .args(link)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "cc failed to build classify.c");
    Some(())
}

fn check_classes(exe: &Path) {
    let artifact = lenet_artifact();
    let dir = model_dir("lenet");
    let out = Command::new(exe)
        .arg(&artifact)
        .arg(dir.join("inputs/input.npy"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "classify failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (shape, reference) = read_f32_npy(&dir.join("expected/output.npy"));
    let want = argmax_rows(&reference, shape[1] as usize);
    let got: Vec<usize> = stdout
        .lines()
        .map(|l| {
            let class = l.split("class ").nth(1).unwrap().split(' ').next().unwrap();
            class.parse().unwrap()
        })
        .collect();
    eprintln!("{}: {stdout}reference classes {want:?}", exe.display());
    assert_eq!(got, want, "classify.c output:\n{stdout}");
}

#[test]
fn c_example_static() {
    let exe = scratch_dir().join("classify-static");
    let link = [
        lib_dir().join("libneoc.a").display().to_string(),
        "-lpthread".into(),
        "-ldl".into(),
        "-lm".into(),
    ];
    if build_example(&exe, &link).is_some() {
        check_classes(&exe);
    }
}

#[test]
fn c_example_shared() {
    let exe = scratch_dir().join("classify-shared");
    let dir = lib_dir();
    let link = [
        format!("-L{}", dir.display()),
        "-lneoc".into(),
        format!("-Wl,-rpath,{}", dir.display()),
    ];
    if build_example(&exe, &link).is_some() {
        check_classes(&exe);
    }
}
