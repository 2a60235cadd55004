//! End-to-end numerics of the TensorFlow frontend: every model under
//! `testmodels/tensorflow/models/` is compiled from each of its forms (frozen graph
//! `frozen.pb`, SavedModel directory `saved_model`), run through the runtime on its
//! stored inputs, and compared with TensorFlow's own outputs within the tolerances of
//! its `case.json`. `testmodels/tensorflow/large/*` (Keras MobileNetV2 and ResNet50 from
//! `generate.py --large`, not committed) is checked too when present. Every comparison
//! prints max abs/rel error (`cargo test -- --nocapture` shows them). Error models
//! (`testmodels/tensorflow/errors/`) must fail with messages naming what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{case, errors, formats, input_shapes, read_npy, stored_inputs, tensor_refs, values};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/tensorflow")
}

/// Compiles `dir/<format>` at `opt_level`, runs it, and checks every output.
fn check(dir: &Path, format: &str, opt_level: u8) {
    let case = case(dir);
    let (rtol, atol) = (
        case["rtol"].as_f64().unwrap(),
        case["atol"].as_f64().unwrap(),
    );
    let name = format!("{}/{format}", dir.file_name().unwrap().to_string_lossy());
    let opts = CompileOptions {
        target: neoc_target_spec::host_target_name().into(),
        opt_level,
        // The Keras SavedModel signature leaves the batch dim unknown.
        input_shapes: input_shapes(&case),
        ..CompileOptions::default()
    };
    let t = std::time::Instant::now();
    let (artifact, report) = compile_file(&dir.join(format), &opts)
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: compile failed: {e}"));
    let compile_s = t.elapsed().as_secs_f64();
    let model = Model::from_bytes(artifact.to_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let inputs = stored_inputs(&model, dir);
    let outputs = model
        .run(&tensor_refs(&inputs))
        .unwrap_or_else(|e| panic!("{name} -O{opt_level}: run failed: {e}"));
    assert_eq!(
        outputs.len(),
        case["outputs"].as_array().unwrap().len(),
        "{name}: outputs"
    );
    for (i, (spec, got)) in model.outputs().iter().zip(&outputs).enumerate() {
        let want = read_npy(&dir.join("expected").join(format!("output_{i}.npy")));
        assert_eq!(got.dtype(), want.dtype, "{name}/{}: dtype", spec.name);
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
            "{name} -O{opt_level} output {i}: {} elements out of tolerance",
            e.bad
        );
    }
}

fn check_model(name: &str) {
    let dir = root().join("models").join(name);
    for f in formats(&case(&dir)) {
        for level in [0, 2] {
            check(&dir, &f, level);
        }
    }
}

#[test]
fn cnn() {
    check_model("cnn");
}

#[test]
fn bert() {
    check_model("bert");
}

#[test]
fn ops() {
    check_model("ops");
}

#[test]
fn tf1_saved_model() {
    check_model("tf1");
}

#[test]
fn keras2() {
    check_model("keras2");
}

/// Keras applications generated locally (`generate.py --large`), checked when present.
#[test]
fn large_models_when_present() {
    let Ok(entries) = std::fs::read_dir(root().join("large")) else {
        println!("testmodels/tensorflow/large is absent (generate.py --large); skipping");
        return;
    };
    let mut dirs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.join("case.json").exists()) {
        for f in formats(&case(&dir)) {
            check(&dir, &f, 2);
        }
    }
}

/// The framework is detected from a `.pb` file and from a SavedModel directory (or its
/// `saved_model.pb`).
#[test]
fn framework_is_detected() {
    use neoc_driver::frontend::detect;
    use neoc_driver::Framework;
    let dir = root().join("models/cnn");
    assert_eq!(
        detect(&dir.join("frozen.pb")).unwrap(),
        Framework::Tensorflow
    );
    assert_eq!(
        detect(&dir.join("saved_model")).unwrap(),
        Framework::Tensorflow
    );
    assert_eq!(
        detect(&dir.join("saved_model/saved_model.pb")).unwrap(),
        Framework::Tensorflow
    );
}

fn compile_err(path: &Path, opts: &CompileOptions) -> String {
    match compile_file(path, opts) {
        Ok(_) => panic!("{} compiled but must be refused", path.display()),
        Err(e) => e.to_string(),
    }
}

/// Bad models fail with messages that name the file, the node or what to do.
#[test]
fn errors_name_the_problem() {
    let opts = CompileOptions::default();
    let e = compile_err(&root().join("errors/unsupported_ops.pb"), &opts);
    println!("{e}");
    assert!(e.contains("unsupported_ops.pb"), "{e}");
    for op in ["Conv3D", "Cumprod", "RFFT", "BesselI0e"] {
        assert!(e.contains(op), "{op} missing from: {e}");
    }
    let e = compile_err(&root().join("errors/unknown_batch.pb"), &opts);
    println!("{e}");
    assert!(e.contains("--input-shape x=N,4"), "{e}");
    let fixed = CompileOptions {
        input_shapes: vec![("x".into(), vec![3, 4])],
        ..CompileOptions::default()
    };
    compile_file(&root().join("errors/unknown_batch.pb"), &fixed).unwrap();
    // A missing signature lists the model's signatures.
    let sm = root().join("models/cnn/saved_model");
    let bad_sig = CompileOptions {
        selection: neoc_driver::ModelSelection {
            signature: Some("nope".into()),
            ..Default::default()
        },
        ..CompileOptions::default()
    };
    let e = compile_err(&sm, &bad_sig);
    println!("{e}");
    assert!(
        e.contains("\"serving_default\"") && e.contains("\"serve\""),
        "{e}"
    );
    // --outputs picks frozen-graph tensors by name; a wrong name is named back.
    let outs = |o: &str| CompileOptions {
        selection: neoc_driver::ModelSelection {
            outputs: vec![o.into()],
            ..Default::default()
        },
        ..CompileOptions::default()
    };
    let e = compile_err(&root().join("models/cnn/frozen.pb"), &outs("nope"));
    assert!(e.contains("no node named \"nope\""), "{e}");
}
