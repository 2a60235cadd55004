//! Damaged TensorFlow models fail with errors naming the file, never with a panic:
//! truncated and corrupted frozen graphs and `saved_model.pb`s, truncated, corrupted
//! and missing variable bundles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels/tensorflow/models")
}

fn opts() -> neoc_tensorflow::ImportOptions {
    neoc_tensorflow::ImportOptions {
        input_shapes: vec![("image".into(), vec![1, 32, 32, 3])],
        ..Default::default()
    }
}

/// A scratch copy of `models/cnn/saved_model`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("neoc-tf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let src = models().join("cnn/saved_model");
        std::fs::create_dir_all(dir.join("variables")).unwrap();
        for f in [
            "saved_model.pb",
            "variables/variables.index",
            "variables/variables.data-00000-of-00001",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn import_err(path: &Path) -> String {
    match neoc_tensorflow::import_path(path, &opts()) {
        Ok(_) => panic!("{} imported but is damaged", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_frozen_graphs_are_refused() {
    let bytes = std::fs::read(models().join("cnn/frozen.pb")).unwrap();
    let dir = std::env::temp_dir().join(format!("neoc-tf-frozen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.pb");
    for cut in [
        0,
        1,
        7,
        100,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = import_err(&path);
        assert!(e.contains("cut.pb"), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupted_frozen_graphs_never_panic() {
    let bytes = std::fs::read(models().join("cnn/frozen.pb")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n: usize = std::env::var("NEOC_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for _ in 0..n {
        let mut d = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % d.len() as u64) as usize;
            d[i] = next() as u8;
        }
        // Ok or Err, never a panic.
        let _ = neoc_tensorflow::import_frozen_bytes(d.into(), "fuzz.pb", &opts());
    }
}

#[test]
fn damaged_saved_models_are_refused() {
    // Truncated saved_model.pb.
    let s = Scratch::new("pb");
    let pb = s.0.join("saved_model.pb");
    let bytes = std::fs::read(&pb).unwrap();
    std::fs::write(&pb, &bytes[..bytes.len() / 2]).unwrap();
    let e = import_err(&s.0);
    assert!(e.contains("saved_model.pb"), "{e}");

    // Truncated data shard: the tensor past the end is named.
    let s = Scratch::new("data");
    let data = s.0.join("variables/variables.data-00000-of-00001");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    let e = import_err(&s.0);
    assert!(
        e.contains("variables.data-00000-of-00001") && e.contains("truncated"),
        "{e}"
    );

    // A flipped byte in a weight the model reads (the first tensor of the shard, the
    // first convolution's kernel): the checksum catches it.
    let s = Scratch::new("crc");
    let data = s.0.join("variables/variables.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[1000] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let e = import_err(&s.0);
    assert!(e.contains("checksum"), "{e}");

    // Every truncation of the index is refused.
    let s = Scratch::new("index");
    let index = s.0.join("variables/variables.index");
    let bytes = std::fs::read(&index).unwrap();
    for cut in (0..bytes.len()).step_by(97) {
        std::fs::write(&index, &bytes[..cut]).unwrap();
        let e = import_err(&s.0);
        assert!(e.contains("variables.index"), "cut {cut}: {e}");
    }

    // Missing variables.
    let s = Scratch::new("novars");
    std::fs::remove_dir_all(s.0.join("variables")).unwrap();
    let e = import_err(&s.0);
    assert!(e.contains("variables"), "{e}");
}

/// Valid protobuf with hostile values: attributes, constant contents and shapes of the
/// committed graphs replaced by extreme numbers. Import succeeds or fails cleanly.
#[test]
fn hostile_attribute_values_never_panic() {
    use neoc_tensorflow::proto::GraphDef;
    use prost::Message;
    let extremes = [-1i64, 0, 1, 2, 3, 7, -7, 1 << 40, i64::MIN, i64::MAX];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n: usize = std::env::var("NEOC_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for model in ["cnn", "bert", "ops"] {
        let bytes = std::fs::read(models().join(model).join("frozen.pb")).unwrap();
        let base = GraphDef::decode(&bytes[..]).unwrap();
        for _ in 0..n {
            let mut g = base.clone();
            for _ in 0..1 + next() % 3 {
                let k = (next() % g.node.len() as u64) as usize;
                let node = &mut g.node[k];
                let x = extremes[(next() % extremes.len() as u64) as usize];
                if next().is_multiple_of(4) && !node.input.is_empty() {
                    // Rewire an input: another node, a missing port, or itself.
                    let j = (next() % node.input.len() as u64) as usize;
                    let other = base.node[(next() % base.node.len() as u64) as usize]
                        .name
                        .clone();
                    node.input[j] = match next() % 3 {
                        0 => other,
                        1 => format!("{other}:{}", next() % 9),
                        _ => node.name.clone(),
                    };
                    continue;
                }
                let keys: Vec<String> = node.attr.keys().cloned().collect();
                let Some(key) = keys.get((next() % keys.len().max(1) as u64) as usize) else {
                    continue;
                };
                let a = node.attr.get_mut(key).unwrap();
                a.i = x;
                if let Some(l) = a.list.as_mut() {
                    if !l.i.is_empty() {
                        let j = (next() % l.i.len() as u64) as usize;
                        l.i[j] = x;
                    }
                }
                if let Some(t) = a.tensor.as_mut() {
                    if !t.int_val.is_empty() {
                        let j = (next() % t.int_val.len() as u64) as usize;
                        t.int_val[j] = x as i32;
                    }
                    // Overwrite one element of an integer constant (shapes, axes,
                    // perms, paddings, multiples).
                    let w = match t.dtype {
                        3 => 4, // DT_INT32
                        9 => 8, // DT_INT64
                        _ => 0,
                    };
                    if w > 0 && t.tensor_content.len() >= w {
                        let mut c = t.tensor_content.to_vec();
                        let j = (next() % (c.len() / w) as u64) as usize * w;
                        if w == 4 {
                            c[j..j + 4].copy_from_slice(&(x as i32).to_le_bytes());
                        } else {
                            c[j..j + 8].copy_from_slice(&x.to_le_bytes());
                        }
                        t.tensor_content = c.into();
                    }
                    if let Some(s) = t.tensor_shape.as_mut() {
                        if !s.dim.is_empty() {
                            let j = (next() % s.dim.len() as u64) as usize;
                            s.dim[j].size = x;
                        }
                    }
                }
                if let Some(s) = a.shape.as_mut() {
                    if !s.dim.is_empty() {
                        s.dim[0].size = x;
                    }
                }
            }
            let opts = neoc_tensorflow::ImportOptions::default();
            let _ = neoc_tensorflow::import_frozen_bytes(g.encode_to_vec().into(), "f.pb", &opts);
        }
    }
}
