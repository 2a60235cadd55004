//! End-to-end numerics of the PyTorch frontend: every model under
//! `testmodels/pytorch/models/` is compiled from each of its archives (TorchScript
//! `model.pt`, torch.export `model.pt2`, core-aten `model_core.pt2`), run through the
//! runtime on its stored inputs, and compared with torch's own outputs within the
//! tolerances of its `case.json`. `testmodels/pytorch/large/*` (torchvision models from
//! `generate.py --large`, not committed) is checked too when present. Every comparison
//! prints max abs/rel error (`cargo test -- --nocapture` shows them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::Model;
use std::path::{Path, PathBuf};

mod common;
use common::{case, errors, formats, read_npy, stored_inputs, tensor_refs, values};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/pytorch")
}

/// Compiles `dir/<format>` at `opt_level`, runs it, and checks every output.
fn check(dir: &Path, format: &str, opt_level: u8) {
    let case = case(dir);
    let (rtol, atol) = (
        case["rtol"].as_f64().unwrap(),
        case["atol"].as_f64().unwrap(),
    );
    let name = format!("{}/{format}", dir.file_name().unwrap().to_string_lossy());
    // Every format gets the shapes (scripted archives record none; the others agree).
    let input_shapes = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let dims = i["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap());
            (i["name"].as_str().unwrap().to_string(), dims.collect())
        })
        .collect();
    let opts = CompileOptions {
        target: neoc_target_spec::host_target_name().into(),
        opt_level,
        input_shapes,
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
        assert_eq!(spec.name, format!("output_{i}"));
        let want = read_npy(&dir.join("expected").join(format!("output_{i}.npy")));
        assert_eq!(got.dtype(), want.dtype, "{name}/{}: dtype", spec.name);
        assert_eq!(got.shape(), &want.shape[..], "{name}/{}: shape", spec.name);
        let w = want.values();
        let e = errors(&values(got.dtype(), got.as_bytes()), &w, rtol, atol);
        println!(
            "{name}/{} [-O{opt_level}, {} steps, compiled in {compile_s:.2}s]: max abs err \
             {:.3e}, max rel err {:.3e}, max abs err / max |ref| {:.3e}, {} of {} \
             outside rtol {rtol} atol {atol}",
            spec.name,
            report.steps,
            e.max_abs,
            e.max_rel,
            e.scaled,
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
fn rnn() {
    check_model("rnn");
}

/// torchvision models generated locally (`generate.py --large`), checked when present.
#[test]
fn large_models_when_present() {
    let Ok(entries) = std::fs::read_dir(root().join("large")) else {
        println!("testmodels/pytorch/large is absent (generate.py --large); skipping");
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

/// The CLI's format detection picks the PyTorch frontend from the file contents too.
#[test]
fn framework_is_detected() {
    use neoc_driver::frontend::detect;
    use neoc_driver::Framework;
    let dir = root().join("models").join("cnn");
    assert_eq!(detect(&dir.join("model.pt")).unwrap(), Framework::Pytorch);
    assert_eq!(detect(&dir.join("model.pt2")).unwrap(), Framework::Pytorch);
    let tmp = std::env::temp_dir().join("neoc_pytorch_detect_model.bin");
    std::fs::copy(dir.join("model.pt2"), &tmp).unwrap();
    assert_eq!(detect(&tmp).unwrap(), Framework::Pytorch);
    let _ = std::fs::remove_file(&tmp);
}
