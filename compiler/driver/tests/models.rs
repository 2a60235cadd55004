//! End-to-end numerics: every model under `testmodels/models/` is compiled at every
//! `--opt-level`, run through the runtime on its stored inputs, and compared with the
//! stored onnxruntime outputs within the tolerances of its `case.json`. Every
//! comparison prints max abs/rel error (`cargo test -- --nocapture` shows them).
//! `testmodels/large/*` (generated with `generate.py --large`, not committed) is
//! checked too when present.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{errors, read_npy, stored_inputs, tensor_refs, values};

fn testmodels() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels")
}

struct Case {
    rtol: f64,
    atol: f64,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Case {
        rtol: v["rtol"].as_f64().unwrap(),
        atol: v["atol"].as_f64().unwrap(),
    }
}

fn check_dir(dir: &Path, target: &str, opt_level: u8) {
    check_variant(dir, target, opt_level, None);
}

/// Like [`check_dir`]; with `only = Some(level)` the artifact keeps just that code
/// variant, so the runtime must run it (the way a CPU without the better levels would).
fn check_variant(dir: &Path, target: &str, opt_level: u8, only: Option<&str>) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let case = read_case(dir);
    let opts = CompileOptions {
        target: target.into(),
        opt_level,
        ..CompileOptions::default()
    };
    let t = std::time::Instant::now();
    let (mut artifact, report) = compile_file(&dir.join("model.onnx"), &opts)
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: compile failed: {e}"));
    if let Some(level) = only {
        artifact.variants.retain(|v| v.name == level);
        assert_eq!(artifact.variants.len(), 1, "{name}: no variant {level}");
    }
    let compile_s = t.elapsed().as_secs_f64();
    let model = Model::from_bytes(artifact.to_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inputs = stored_inputs(&model, dir);
    let refs = tensor_refs(&inputs);
    let outputs = model
        .run(&refs)
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: run failed: {e}"));
    let mut failures = Vec::new();
    for (spec, got) in model.outputs().iter().zip(&outputs) {
        let want = read_npy(&dir.join("expected").join(format!("{}.npy", spec.name)));
        assert_eq!(got.dtype(), want.dtype, "{name}/{}: dtype", spec.name);
        assert_eq!(got.shape(), &want.shape[..], "{name}/{}: shape", spec.name);
        let wv = want.values();
        let e = errors(
            &values(got.dtype(), got.as_bytes()),
            &wv,
            case.rtol,
            case.atol,
        );
        println!(
            "{name}/{} [{target} -O{opt_level}, {} kernels, compiled in {compile_s:.2}s]: \
             max abs err {:.3e}, max rel err {:.3e}, max abs err / max |ref| {:.3e}, \
             {} of {} outside rtol {} atol {}",
            spec.name,
            report.steps,
            e.max_abs,
            e.max_rel,
            e.scaled,
            e.bad,
            wv.len(),
            case.rtol,
            case.atol
        );
        let (bad, max_abs) = (e.bad, e.max_abs);
        if bad > 0 {
            failures.push(format!(
                "{}: {bad} elements out of tolerance (max abs {max_abs:.3e})",
                spec.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name} [{target} -O{opt_level}]: {}",
        failures.join("; ")
    );
}

/// The widest single-level target this machine runs.
fn host() -> &'static str {
    neoc_target_spec::host_target_name()
}

/// Checks a committed model at every optimisation level.
fn check_model(name: &str) {
    let dir = testmodels().join("models").join(name);
    for level in 0..=3 {
        check_dir(&dir, host(), level);
    }
}

macro_rules! model_tests {
    ($($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_model(stringify!($test));
            }
        )*
        /// Every directory under testmodels/models is covered by a test above.
        #[test]
        fn every_model_has_a_test() {
            let known = [$(stringify!($test)),*];
            for e in std::fs::read_dir(testmodels().join("models")).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                assert!(known.contains(&name.as_str()), "testmodels/models/{name} has no test");
            }
        }
    };
}

model_tests! {
    mlp,
    lenet,
    resnet18,
    mobilenet_v2,
    bert_encoder,
    bert_encoder_opset17,
    ops_conv,
    ops_winograd,
    ops_pool,
    ops_elementwise,
    ops_linear,
    ops_tiles,
    ops_blocked,
    rnn_tagger,
    ops_einsum,
    spatial_transformer,
    ops_shape,
    ops_bn,
    ops_opset7,
    ops_opset11,
    ops_opset21,
    ops_reduce,
    ops_reduce18,
    ops_pad,
    ops_pad18,
    ops_pad19,
    ops_where_expand,
    ops_fusion,
    ops_layernorm_gelu,
}

/// The AVX2 code path is checked too (on an AVX-512 machine the runtime would otherwise
/// never run it): these models are compiled for the AVX2 level only.
#[test]
fn avx2_level_matches_too() {
    for name in [
        "lenet",
        "ops_conv",
        "ops_winograd",
        "ops_elementwise",
        "ops_linear",
        "ops_tiles",
        "ops_fusion",
        "bert_encoder",
    ] {
        check_dir(&testmodels().join("models").join(name), "x86_64-avx2", 2);
    }
    // The blocked layout of -O3 (16-lane blocks in pairs of ymm registers).
    for name in ["mobilenet_v2", "ops_blocked"] {
        check_dir(&testmodels().join("models").join(name), "x86_64-avx2", 3);
    }
}

/// Large models generated locally (`generate.py --large`), checked when present.
/// Every level of a multi-level target is lowered for its own vector unit (AVX2 gets
/// smaller register tiles than AVX-512); the AVX2 code of an `x86_64` artifact must
/// match the references too.
#[test]
fn second_level_of_x86_64_matches() {
    for name in [
        "ops_tiles",
        "ops_conv",
        "ops_linear",
        "bert_encoder",
        "mobilenet_v2",
    ] {
        check_variant(
            &testmodels().join("models").join(name),
            "x86_64",
            2,
            Some("avx2"),
        );
    }
}

#[test]
fn large_models_when_present() {
    let Ok(entries) = std::fs::read_dir(testmodels().join("large")) else {
        println!("testmodels/large is absent (generate it with `generate.py --large`); skipping");
        return;
    };
    for e in entries {
        let dir = e.unwrap().path();
        if dir.join("model.onnx").exists() {
            check_dir(&dir, host(), 2);
            check_dir(&dir, host(), 3);
        }
    }
}

/// Parallel kernels split their work between tasks that write disjoint outputs, so the
/// results are bit-identical whatever the thread count.
#[test]
fn results_do_not_depend_on_thread_count() {
    for name in ["lenet", "resnet18", "mobilenet_v2", "bert_encoder"] {
        let dir = testmodels().join("models").join(name);
        let opts = CompileOptions {
            target: host().into(),
            ..CompileOptions::default()
        };
        let (artifact, _) = compile_file(&dir.join("model.onnx"), &opts).unwrap();
        let model = Model::from_bytes(artifact.to_bytes()).unwrap();
        assert!(
            model.plan().kernels.iter().any(|k| k.parallel),
            "{name}: no kernel is marked parallel"
        );
        let inputs = stored_inputs(&model, &dir);
        let refs = tensor_refs(&inputs);
        let one = model
            .new_context_with_threads(1)
            .unwrap()
            .run(&model, &refs)
            .unwrap();
        for threads in [2, 3, 5] {
            let mut ctx = model.new_context_with_threads(threads).unwrap();
            for _ in 0..2 {
                let many = ctx.run(&model, &refs).unwrap();
                for (a, b) in one.iter().zip(&many) {
                    assert_eq!(
                        a.as_bytes(),
                        b.as_bytes(),
                        "{name}: {threads} threads differ"
                    );
                }
            }
        }
    }
}
