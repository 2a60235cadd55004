//! Hostile MXNet models fail cleanly, never with a panic: attribute strings of the
//! committed symbols replaced by extreme or malformed values, input entries rewired,
//! and parameter files cut or damaged anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels/mxnet/models")
}

fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

fn iters() -> usize {
    std::env::var("NEOC_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150)
}

#[test]
fn hostile_symbols_never_panic() {
    let values = [
        "0",
        "-1",
        "1",
        "(0, 0)",
        "(-1, -1)",
        "(1099511627776, 3)",
        "()",
        "(3)",
        "None",
        "True",
        "x",
        "(1, 2, 3, 4, 5)",
        "9223372036854775807",
        "-9223372036854775808",
        "(0, -4, -1, -1)",
        "(-3, -3, -3)",
        "nan",
        "inf",
    ];
    let mut next = rng(0x1234_5678_9abc_def1);
    let dir = std::env::temp_dir().join(format!("neoc-mx-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (model, shape) in [("cnn", vec![2, 3, 32, 32]), ("mlp", vec![4, 20])] {
        let src = models().join(model);
        std::fs::copy(src.join("model-0000.params"), dir.join("model-0000.params")).unwrap();
        let text = std::fs::read_to_string(src.join("model-symbol.json")).unwrap();
        let base: serde_json::Value = serde_json::from_str(&text).unwrap();
        let n = base["nodes"].as_array().unwrap().len();
        for _ in 0..iters() {
            let mut v = base.clone();
            for _ in 0..1 + next() % 3 {
                let k = (next() % n as u64) as usize;
                let node = &mut v["nodes"][k];
                if next().is_multiple_of(4) {
                    if let Some(ins) = node["inputs"].as_array_mut() {
                        if !ins.is_empty() {
                            let j = (next() % ins.len() as u64) as usize;
                            ins[j] = serde_json::json!([next() % n as u64, next() % 4, 0]);
                        }
                    }
                    continue;
                }
                if let Some(attrs) = node["attrs"].as_object_mut() {
                    let keys: Vec<String> = attrs.keys().cloned().collect();
                    if let Some(key) = keys.get((next() % keys.len().max(1) as u64) as usize) {
                        let val = values[(next() % values.len() as u64) as usize];
                        attrs.insert(key.clone(), serde_json::Value::String(val.into()));
                    }
                }
            }
            let sym = dir.join("model-symbol.json");
            std::fs::write(&sym, v.to_string()).unwrap();
            let opts = neoc_mxnet::ImportOptions {
                input_shapes: vec![("data".into(), shape.clone())],
                params: None,
            };
            let _ = neoc_mxnet::import_file(&sym, &opts);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_params_are_refused() {
    let src = models().join("mlp");
    let dir = std::env::temp_dir().join(format!("neoc-mx-params-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.join("model-symbol.json"), dir.join("model-symbol.json")).unwrap();
    let bytes = std::fs::read(src.join("model-0000.params")).unwrap();
    let opts = neoc_mxnet::ImportOptions {
        input_shapes: vec![("data".into(), vec![4, 20])],
        params: None,
    };
    let params = dir.join("model-0000.params");
    for cut in (0..bytes.len()).step_by(211) {
        std::fs::write(&params, &bytes[..cut]).unwrap();
        let e = neoc_mxnet::import_file(&dir.join("model-symbol.json"), &opts)
            .err()
            .unwrap_or_else(|| panic!("a params file cut at {cut} imported"));
        assert!(e.to_string().contains("model-0000.params"), "{e}");
    }
    let mut next = rng(0x0bad_cafe_f00d_1234);
    for _ in 0..iters() {
        let mut d = bytes.clone();
        let i = (next() % 256) as usize; // headers and the first array's fields
        d[i] = next() as u8;
        std::fs::write(&params, &d).unwrap();
        let _ = neoc_mxnet::import_file(&dir.join("model-symbol.json"), &opts);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
