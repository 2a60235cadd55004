//! End-to-end numerics of the MXNet frontend: every model under
//! `testmodels/mxnet/models/` (`model-symbol.json` + `model-0000.params`, found by
//! MXNet's naming) is compiled, run through the runtime on its stored input, and
//! compared with MXNet's own outputs within the tolerances of its `case.json`.
//! `testmodels/mxnet/large/*` (gluon resnet18_v1 and mobilenetv2_1.0 from
//! `generate.py --large`, not committed) is checked too when present. Every comparison
//! prints max abs/rel error (`cargo test -- --nocapture` shows them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{case, errors, input_shapes, read_npy, stored_inputs, tensor_refs, values};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/mxnet")
}

fn check(dir: &Path, opt_level: u8) {
    let case = case(dir);
    let (rtol, atol) = (
        case["rtol"].as_f64().unwrap(),
        case["atol"].as_f64().unwrap(),
    );
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let opts = CompileOptions {
        target: neoc_target_spec::host_target_name().into(),
        opt_level,
        input_shapes: input_shapes(&case),
        ..CompileOptions::default()
    };
    let t = std::time::Instant::now();
    let (artifact, report) = compile_file(&dir.join("model-symbol.json"), &opts)
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: compile failed: {e}"));
    let compile_s = t.elapsed().as_secs_f64();
    let model = Model::from_bytes(artifact.to_bytes()).unwrap();
    let inputs = stored_inputs(&model, dir);
    let outputs = model
        .run(&tensor_refs(&inputs))
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: run failed: {e}"));
    assert_eq!(outputs.len(), case["outputs"].as_array().unwrap().len());
    for (i, (spec, got)) in model.outputs().iter().zip(&outputs).enumerate() {
        let want = read_npy(&dir.join("expected").join(format!("output_{i}.npy")));
        assert_eq!(got.shape(), &want.shape[..], "{name}/{}: shape", spec.name);
        let w = want.values();
        let e = errors(&values(got.dtype(), got.as_bytes()), &w, rtol, atol);
        println!(
            "{name}/{} [-O{opt_level}, {} steps, compiled in {compile_s:.2}s]: max abs err \
             {:.3e}, max rel err {:.3e}, {} of {} outside rtol {rtol} atol {atol}",
            spec.name,
            report.steps,
            e.max_abs,
            e.max_rel,
            e.bad,
            w.len()
        );
        assert_eq!(
            e.bad, 0,
            "{name} -O{opt_level} output {i}: out of tolerance"
        );
    }
}

#[test]
fn cnn() {
    for level in [0, 2] {
        check(&root().join("models/cnn"), level);
    }
}

#[test]
fn mlp() {
    for level in [0, 2] {
        check(&root().join("models/mlp"), level);
    }
}

/// Gluon model-zoo models generated locally (`generate.py --large`), checked when present.
#[test]
fn large_models_when_present() {
    let Ok(entries) = std::fs::read_dir(root().join("large")) else {
        println!("testmodels/mxnet/large is absent (generate.py --large); skipping");
        return;
    };
    let mut dirs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.join("case.json").exists()) {
        check(&dir, 2);
    }
}

/// The symbol file selects the MXNet frontend; `--params` overrides the file found
/// beside it, and is refused for other frameworks.
#[test]
fn detection_and_params() {
    use neoc_driver::frontend::detect;
    use neoc_driver::{Framework, ModelSelection};
    let sym = root().join("models/mlp/model-symbol.json");
    assert_eq!(detect(&sym).unwrap(), Framework::Mxnet);
    let with = |params: PathBuf| CompileOptions {
        input_shapes: vec![("data".into(), vec![4, 20])],
        selection: ModelSelection {
            params: Some(params),
            ..Default::default()
        },
        ..CompileOptions::default()
    };
    let e = compile_file(&sym, &with(root().join("errors/truncated-0000.params")))
        .err()
        .unwrap()
        .to_string();
    println!("{e}");
    assert!(
        e.contains("truncated-0000.params") && e.contains("truncated"),
        "{e}"
    );
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/models/mlp/model.onnx");
    let e = compile_file(&onnx, &with(sym.clone()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--params applies to MXNet"), "{e}");
}
