//! Robustness of the whole import: the committed error archives
//! (`testmodels/pytorch/errors/`) are refused with messages that name the file and
//! what is wrong, and damaged archives never panic. Damage is applied both to the raw
//! file (caught by the zip reader and the CRCs) and to entry contents rewritten with
//! valid CRCs, so the pickle, JSON and TorchScript parsers themselves see it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::archive::Archive;
use crate::{import_bytes, import_file, ImportOptions, PytorchError};
use bytes::Bytes;
use std::io::Write;
use std::path::{Path, PathBuf};

fn testmodels() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testmodels/pytorch")
}

fn entries(path: &Path) -> Vec<(String, Bytes)> {
    let bytes = Bytes::from(std::fs::read(path).unwrap());
    let a = Archive::open(bytes, "t", "").unwrap();
    let names: Vec<String> = a.names().map(str::to_string).collect();
    names
        .into_iter()
        .map(|n| {
            let b = a.read(&n).unwrap();
            (n, b)
        })
        .collect()
}

/// A stored zip of `entries`.
fn rezip(entries: &[(String, Bytes)]) -> Bytes {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, b) in entries {
        w.start_file(n.as_str(), opts).unwrap();
        w.write_all(b).unwrap();
    }
    Bytes::from(w.finish().unwrap().into_inner())
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn unsupported_operators_are_listed_together() {
    for f in ["unsupported_ops.pt", "unsupported_ops.pt2"] {
        let path = testmodels().join("errors").join(f);
        let e = import_file(&path, &ImportOptions::default()).unwrap_err();
        let msg = e.to_string();
        let PytorchError::UnsupportedOps { ops, .. } = &e else {
            panic!("{f}: {msg}");
        };
        for op in ["cumprod", "sort", "unfold"] {
            assert!(
                ops.iter().any(|o| o.op.contains(op) && o.nodes.len() == 2),
                "{f}: {op} (twice) missing from {msg}"
            );
        }
        assert!(msg.contains(f), "{msg}");
    }
}

#[test]
fn forbidden_globals_are_refused() {
    let path = testmodels().join("errors/unknown_global.pt");
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PytorchError::UnsafeGlobal { .. }), "{msg}");
    assert!(
        msg.contains("system") && msg.contains("data.pkl") && msg.contains("unknown_global.pt"),
        "{msg}"
    );
}

#[test]
fn checkpoints_and_garbage_are_refused() {
    let e = import_file(
        &testmodels().join("errors/checkpoint.pt"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("torch.save checkpoint"), "{e}");
    let e = import_bytes(Bytes::from_static(b"hello"), "x.pt", &Default::default()).unwrap_err();
    assert!(e.to_string().contains("not a zip archive"), "{e}");
    let e = import_file(Path::new("/nonexistent/m.pt2"), &Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("cannot read /nonexistent/m.pt2"),
        "{e}"
    );
}

#[test]
fn truncated_and_corrupted_files_are_errors() {
    for f in ["cnn/model.pt", "cnn/model.pt2"] {
        let full = std::fs::read(testmodels().join("models").join(f)).unwrap();
        for cut in [10, full.len() / 3, full.len() / 2, full.len() - 30] {
            let r = import_bytes(Bytes::from(full[..cut].to_vec()), f, &Default::default());
            assert!(r.is_err(), "{f} cut at {cut} imported");
        }
    }
    // A flipped byte inside stored weights fails the entry's CRC.
    let path = testmodels().join("models/cnn/model.pt");
    let mut full = std::fs::read(&path).unwrap();
    let a = Archive::open(Bytes::from(full.clone()), "t", "").unwrap();
    let w = a.read("model/data/0").unwrap();
    let at = full
        .windows(w.len().min(64))
        .position(|x| x == &w[..w.len().min(64)])
        .unwrap();
    full[at + 3] ^= 0x40;
    let e = import_bytes(Bytes::from(full), "m.pt", &Default::default()).unwrap_err();
    assert!(e.to_string().contains("CRC"), "{e}");
}

#[test]
fn damaged_entries_never_panic() {
    let cases = [
        ("models/cnn/model.pt", "data.pkl"),
        ("models/cnn/model.pt", "constants.pkl"),
        ("models/bert/model.pt", ".py"),
        ("models/rnn/model.pt", ".py"),
        ("models/bert/model.pt2", ".json"),
        ("models/cnn/model.pt", ".py"),
        ("models/cnn/model_scripted.pt", ".py"),
        ("models/rnn/model.pt2", ".json"),
        ("models/cnn/model_core.pt2", ".json"),
        ("models/bert/model.pt", "data.pkl"),
        ("models/cnn/model.pt2", "state_dict.pt"),
    ];
    // NEOC_FUZZ_ITERS / NEOC_FUZZ_SEED run it longer or differently.
    let iters: usize = std::env::var("NEOC_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("NEOC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed | 1);
    let (mut ok, mut err) = (0, 0);
    for (file, which) in cases {
        let base = entries(&testmodels().join(file));
        let targets: Vec<usize> = base
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n.ends_with(which))
            .map(|(i, _)| i)
            .collect();
        assert!(!targets.is_empty(), "{file}: no {which} entry");
        for _ in 0..iters {
            let mut es = base.clone();
            let t = targets[rng.below(targets.len())];
            let mut b = es[t].1.to_vec();
            match rng.below(6) {
                // Numbers in code or JSON replaced by extreme ones (shapes, strides,
                // split sizes, kernel sizes...).
                4 | 5 => {
                    let starts: Vec<usize> = (0..b.len())
                        .filter(|&i| {
                            b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
                        })
                        .collect();
                    if let Some(&i) = starts.get(rng.below(starts.len())) {
                        let end = (i..b.len())
                            .find(|&j| !b[j].is_ascii_digit())
                            .unwrap_or(b.len());
                        let pick = [
                            "9223372036854775807",
                            "4294967296",
                            "0",
                            "1099511627776",
                            "65537",
                        ];
                        let v = pick[rng.below(pick.len())].as_bytes().to_vec();
                        b.splice(i..end, v);
                    }
                }
                0 => b.truncate(rng.below(b.len())),
                1 => {
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(b.len());
                        if let Some(x) = b.get_mut(i) {
                            *x ^= 1 << rng.below(8);
                        }
                    }
                }
                2 => {
                    let i = rng.below(b.len());
                    if let Some(x) = b.get_mut(i) {
                        *x = rng.next() as u8;
                    }
                }
                _ => {
                    let (i, n) = (rng.below(b.len()), rng.below(64));
                    let chunk: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
                    b.splice(i..i, chunk);
                }
            }
            es[t].1 = Bytes::from(b);
            match import_bytes(rezip(&es), file, &Default::default()) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
    }
    println!("damaged archives: {ok} imported, {err} refused, none panicked");
}

#[test]
fn torchscript_without_example_inputs_needs_input_shapes() {
    let base = entries(&testmodels().join("models/cnn/model.pt"));
    let stripped: Vec<(String, Bytes)> = base
        .into_iter()
        .filter(|(n, _)| !n.contains("traced_inputs"))
        .collect();
    let bytes = rezip(&stripped);
    let e = import_bytes(bytes.clone(), "m.pt", &Default::default()).unwrap_err();
    assert!(e.to_string().contains("pass --input-shape x="), "{e}");
    let opts = ImportOptions {
        input_shapes: vec![("x".into(), vec![2, 3, 32, 32])],
    };
    let g = import_bytes(bytes, "m.pt", &opts).unwrap();
    assert_eq!(g.value(g.inputs()[0]).ty.to_string(), "f32[2,3,32,32]");
}

#[test]
fn input_shape_overrides_are_checked() {
    let path = testmodels().join("models/cnn/model.pt2");
    let with = |n: &str, d: Vec<u64>| ImportOptions {
        input_shapes: vec![(n.into(), d)],
    };
    let e = import_file(&path, &with("y", vec![1])).unwrap_err();
    assert!(e.to_string().contains("not an input of the model"), "{e}");
    let e = import_file(&path, &with("x", vec![2, 3, 32])).unwrap_err();
    assert!(e.to_string().contains("rank"), "{e}");
    let e = import_file(&path, &with("x", vec![4, 3, 32, 32])).unwrap_err();
    assert!(e.to_string().contains("fixes it to 2"), "{e}");
    // TorchScript takes any shape the code accepts.
    let ts = testmodels().join("models/cnn/model.pt");
    let g = import_file(&ts, &with("x", vec![1, 3, 32, 32])).unwrap();
    assert_eq!(g.value(g.outputs()[0]).ty.to_string(), "f32[1,10]");
}
