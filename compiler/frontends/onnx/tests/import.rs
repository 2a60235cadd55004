//! Imports every model of the test corpus and checks the rejected inputs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::onnx::{self, encode, model, node, value};
use common::{npy_dir, testmodels};
use neoc_ir::{Graph, Op, ValueDef};
use neoc_onnx::{import_bytes, import_file, read_model_info, ImportOptions, OnnxError};
use std::collections::BTreeMap;
use std::path::Path;

fn shapes(g: &Graph, ids: &[neoc_ir::ValueId]) -> BTreeMap<String, Vec<u64>> {
    ids.iter()
        .map(|&v| {
            let val = g.value(v);
            (val.name.clone(), val.ty.shape.as_fixed().unwrap())
        })
        .collect()
}

fn ops_in(g: &Graph) -> Vec<&'static str> {
    g.topo_order()
        .iter()
        .map(|&n| g.node(n).op.name())
        .collect()
}

#[test]
fn every_corpus_model_imports_with_the_reference_shapes() {
    let dir = testmodels().join("models");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let d = entry.unwrap().path();
        let path = d.join("model.onnx");
        if !path.exists() {
            continue;
        }
        let g = import_file(&path, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            shapes(&g, g.inputs()),
            npy_dir(&d.join("inputs")),
            "inputs of {}",
            d.display()
        );
        assert_eq!(
            shapes(&g, g.outputs()),
            npy_dir(&d.join("expected")),
            "outputs of {}",
            d.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 13,
        "only {seen} models found under {}",
        dir.display()
    );
}

#[test]
fn exporter_shape_chain_folds_away() {
    let path = testmodels().join("models/ops_shape/model.onnx");
    let g = import_file(&path, &ImportOptions::default()).unwrap();
    let ops = ops_in(&g);
    assert!(
        !ops.contains(&"Shape") && !ops.contains(&"Gather"),
        "{ops:?}"
    );
    // Only the two data Concats are left; the shape Concat was folded.
    assert_eq!(ops.iter().filter(|o| **o == "Concat").count(), 2, "{ops:?}");
    let out = g
        .outputs()
        .iter()
        .copied()
        .find(|&v| g.value(v).name == "view_batch_flat")
        .unwrap();
    match g.value(out).def {
        ValueDef::Node(n, _) => assert!(matches!(g.node(n).op, Op::Reshape(_))),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_forms_are_desugared() {
    // opset 7 / IR 3: initializers listed as inputs become constants.
    let g = import_file(
        &testmodels().join("models/ops_opset7/model.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let names: Vec<&str> = g.inputs().iter().map(|&v| &*g.value(v).name).collect();
    assert_eq!(names, ["x", "z", "a"]);
    let ops = ops_in(&g);
    assert!(!ops.contains(&"Dropout"), "{ops:?}");
    // Legacy Softmax at axis 1 of a rank-3 input: Reshape, Softmax, Reshape.
    assert!(
        ops.contains(&"Softmax") && ops.contains(&"Reshape"),
        "{ops:?}"
    );
}

#[test]
fn weights_borrow_the_model_buffer() {
    let path = testmodels().join("models/resnet18/model.onnx");
    let bytes = bytes::Bytes::from(std::fs::read(&path).unwrap());
    let g = import_bytes(
        bytes.clone(),
        None,
        "resnet18.onnx",
        &ImportOptions::default(),
    )
    .unwrap();
    let (lo, hi) = (
        bytes.as_ptr() as usize,
        bytes.as_ptr() as usize + bytes.len(),
    );
    let mut big = 0;
    for (_, v) in g.values() {
        if let ValueDef::Const(t) = &v.def {
            if t.bytes().len() > 4096 {
                let p = t.bytes().as_ptr() as usize;
                assert!(p >= lo && p < hi, "{} was copied", v.name);
                big += 1;
            }
        }
    }
    assert!(big > 20);
}

#[test]
fn resnet18_model_info() {
    let info = read_model_info(&testmodels().join("models/resnet18/model.onnx")).unwrap();
    // torchvision's resnet18 has 11,689,512 parameters; the exporter folds each
    // BatchNorm's weight+bias (2C) into a conv bias (C), 4,800 fewer in all.
    assert_eq!(info.parameter_count, 11_684_712);
    assert_eq!(info.parameter_bytes, 4 * 11_684_712);
    assert_eq!(info.initializer_count, 42);
    assert_eq!(info.opset_imports, vec![("ai.onnx".to_string(), 13)]);
    assert_eq!(info.op_counts["Conv"], 20);
    assert_eq!(info.op_counts["Relu"], 17);
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].to_string(), "input: f32[1,3,224,224]");
    assert_eq!(info.outputs[0].to_string(), "output: f32[1,1000]");
    assert!(
        info.producer_name.contains("pytorch"),
        "{}",
        info.producer_name
    );
    let text = info.to_string();
    assert!(text.contains("11684712"), "{text}");
}

#[test]
fn truncated_and_garbage_files_are_decode_errors() {
    for f in ["truncated.onnx", "garbage.onnx"] {
        let path = testmodels().join("errors").join(f);
        let e = import_file(&path, &ImportOptions::default()).unwrap_err();
        assert!(matches!(e, OnnxError::Decode { .. }), "{f}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(f) && msg.contains("not a valid ONNX model"),
            "{msg}"
        );
        assert!(read_model_info(&path).is_err());
    }
}

#[test]
fn unsupported_ops_are_listed_with_their_nodes() {
    let path = testmodels().join("errors/unsupported_op.onnx");
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    let OnnxError::UnsupportedOps { ops, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].op_type, "RandomUniformLike");
    assert_eq!(ops[0].nodes, ["my_random"]);
    let msg = e.to_string();
    assert!(
        msg.contains("unsupported_op.onnx")
            && msg.contains("RandomUniformLike (opset 13, node \"my_random\")"),
        "{msg}"
    );
    // inspect still works on it.
    let info = read_model_info(&path).unwrap();
    assert_eq!(info.op_counts["RandomUniformLike"], 1);
}

#[test]
fn all_unsupported_ops_are_reported_at_once() {
    let mut g = onnx::GraphProto {
        input: vec![value("x", &["3", "3"])],
        output: vec![value("z", &["3", "3"])],
        ..Default::default()
    };
    g.node.push(node("RandomUniformLike", "d1", &["x"], &["a"]));
    g.node.push(node("Relu", "r", &["x"], &["b"]));
    g.node.push(node("RandomUniformLike", "d2", &["x"], &["c"]));
    let mut nms = node("NonMaxSuppression", "", &["x"], &["z"]);
    nms.domain = "".into();
    g.node.push(nms);
    let e = import_bytes(
        encode(&model(13, g)),
        None,
        "two.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("two.onnx: 2 unsupported operators: RandomUniformLike (opset 13, nodes \"d1\", \"d2\"), NonMaxSuppression (opset 13, node \"NonMaxSuppression_3\")"),
        "{msg}"
    );
}

#[test]
fn a_missing_file_names_it() {
    let e = import_file(Path::new("no/such/model.onnx"), &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }));
    assert_eq!(
        e.to_string(),
        "cannot read no/such/model.onnx: No such file or directory"
    );
}

fn symbolic_model() -> onnx::ModelProto {
    let mut g = onnx::GraphProto {
        name: "sym".into(),
        input: vec![value("x", &["batch", "3", "4"])],
        output: vec![value("y", &["batch", "12"])],
        ..Default::default()
    };
    g.node.push(node("Flatten", "flat", &["x"], &["y"]));
    model(13, g)
}

#[test]
fn symbolic_input_dims_need_an_override() {
    let bytes = encode(&symbolic_model());
    let e = import_bytes(bytes.clone(), None, "sym.onnx", &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::InputShape { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "sym.onnx: input \"x\" has unknown dimension \"batch\" (dim 0); pass --input-shape x=1,3,4"
    );

    let opts = ImportOptions {
        input_shapes: vec![("x".into(), vec![5, 3, 4])],
        ..Default::default()
    };
    let g = import_bytes(bytes.clone(), None, "sym.onnx", &opts).unwrap();
    assert_eq!(g.value(g.outputs()[0]).ty.to_string(), "f32[5,12]");

    let bad_rank = ImportOptions {
        input_shapes: vec![("x".into(), vec![5, 12])],
        ..Default::default()
    };
    let e = import_bytes(bytes.clone(), None, "sym.onnx", &bad_rank).unwrap_err();
    assert!(e.to_string().contains("rank 2"), "{e}");

    let bad_name = ImportOptions {
        input_shapes: vec![("q".into(), vec![1])],
        ..Default::default()
    };
    let e = import_bytes(bytes.clone(), None, "sym.onnx", &bad_name).unwrap_err();
    assert!(e.to_string().contains("not a graph input"), "{e}");

    // A constant input fixes the shape and folds the whole (Reshape) graph.
    let x = neoc_ir::Tensor::from_f32(vec![2, 3, 4], &[0.5; 24]);
    let bound = ImportOptions {
        constant_inputs: vec![("x".into(), x)],
        ..Default::default()
    };
    let g = import_bytes(bytes.clone(), None, "sym.onnx", &bound).unwrap();
    assert!(g.inputs().is_empty());
    assert!(g.const_value(g.outputs()[0]).is_some());
    let wrong = ImportOptions {
        constant_inputs: vec![(
            "x".into(),
            neoc_ir::Tensor::from_f32(vec![2, 4, 3], &[0.5; 24]),
        )],
        ..Default::default()
    };
    let e = import_bytes(bytes, None, "sym.onnx", &wrong).unwrap_err();
    assert!(
        e.to_string().contains("--constant-input x is f32[2, 4, 3]"),
        "{e}"
    );
}

#[test]
fn undefined_values_name_the_node_and_value() {
    let mut g = onnx::GraphProto {
        input: vec![value("x", &["2"])],
        output: vec![value("y", &["2"])],
        ..Default::default()
    };
    g.node.push(node("Add", "adder", &["x", "nowhere"], &["y"]));
    let e = import_bytes(
        encode(&model(13, g)),
        None,
        "undef.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::UndefinedValue { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("undef.onnx: node \"adder\" (Add) reads \"nowhere\""),
        "{msg}"
    );
}

fn external_model(location: &str) -> onnx::ModelProto {
    let entry = |k: &str, v: &str| onnx::StringStringEntryProto {
        key: k.into(),
        value: v.into(),
    };
    let w = onnx::TensorProto {
        dims: vec![2, 3],
        data_type: onnx::FLOAT,
        name: "w".into(),
        external_data: vec![
            entry("location", location),
            entry("offset", "8"),
            entry("length", "24"),
        ],
        data_location: onnx::DataLocation::External as i32,
        ..Default::default()
    };
    let mut g = onnx::GraphProto {
        input: vec![value("x", &["2", "3"])],
        output: vec![value("y", &["2", "3"])],
        initializer: vec![w],
        ..Default::default()
    };
    g.node.push(node("Mul", "scale", &["x", "w"], &["y"]));
    model(13, g)
}

#[test]
fn external_data_is_read_beside_the_model() {
    let dir = std::env::temp_dir().join(format!("neoc-onnx-ext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut data = vec![0xAAu8; 8]; // offset 8
    data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("weights.bin"), &data).unwrap();
    let path = dir.join("model.onnx");
    std::fs::write(&path, encode(&external_model("weights.bin"))).unwrap();

    let g = import_file(&path, &ImportOptions::default()).unwrap();
    let w = g
        .values()
        .find(|(_, v)| v.name == "w")
        .map(|(id, _)| id)
        .unwrap();
    assert_eq!(g.const_value(w).unwrap().to_f32_vec(), values);

    // A missing data file is named.
    std::fs::write(&path, encode(&external_model("missing.bin"))).unwrap();
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::ExternalData { .. }), "{e:?}");
    assert!(e.to_string().contains("missing.bin"), "{e}");

    // Paths may not leave the model's directory.
    std::fs::write(&path, encode(&external_model("../weights.bin"))).unwrap();
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("inside the model's directory"),
        "{e}"
    );

    // Without a directory, external data cannot be found.
    let e = import_bytes(
        encode(&external_model("weights.bin")),
        None,
        "mem.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::ExternalData { .. }), "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn node_errors_name_file_node_and_op() {
    // Reshape whose shape is a graph input (not constant).
    let mut g = onnx::GraphProto {
        input: vec![
            value("x", &["2", "3"]),
            onnx::typed_value("s", onnx::INT64, &["2"]),
        ],
        output: vec![value("y", &["3", "2"])],
        ..Default::default()
    };
    g.node.push(node("Reshape", "rs", &["x", "s"], &["y"]));
    let e = import_bytes(
        encode(&model(13, g)),
        None,
        "rs.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::Node { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "rs.onnx: node \"rs\" (Reshape): shape (input 1) must be a constant (computable at \
         compile time): neoc compiles static shapes, dynamic ones are not supported; a value \
         fed as a graph input can be bound with --constant-input NAME=FILE.npy"
    );

    // Shape inference failure: Add of [2] and [3].
    let mut g = onnx::GraphProto {
        input: vec![value("a", &["2"]), value("b", &["3"])],
        output: vec![value("y", &["2"])],
        ..Default::default()
    };
    g.node.push(node("Add", "", &["a", "b"], &["y"]));
    let e = import_bytes(
        encode(&model(13, g)),
        None,
        "add.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("add.onnx: node \"Add_0\" (Add): shapes"),
        "{msg}"
    );
}

#[test]
fn unused_extra_outputs_are_fine_used_ones_are_not() {
    let build = |use_mask: bool| {
        // Inference BatchNormalization (before 14) does not produce the training outputs.
        let mut g = onnx::GraphProto {
            input: ["x", "s", "b", "m", "v"]
                .iter()
                .map(|n| value(n, if *n == "x" { &["1", "2", "2"] } else { &["2"] }))
                .collect(),
            output: vec![value("y", &["1", "2", "2"])],
            ..Default::default()
        };
        g.node.push(node(
            "BatchNormalization",
            "bn",
            &["x", "s", "b", "m", "v"],
            &["y", "mean"],
        ));
        if use_mask {
            g.output.push(value("mean", &["2"]));
        }
        encode(&model(13, g))
    };
    import_bytes(build(false), None, "d.onnx", &ImportOptions::default()).unwrap();
    let e = import_bytes(build(true), None, "d.onnx", &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("output 1 (\"mean\")"), "{e}");
}

#[test]
fn opset_outside_the_range_is_refused() {
    let e = import_bytes(
        encode(&model(23, symbolic_model().graph.unwrap())),
        None,
        "new.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, OnnxError::UnsupportedOpset { version: 23, .. }),
        "{e:?}"
    );
}

/// `(start, end, path)` of this process's file-backed memory maps.
#[cfg(target_os = "linux")]
fn mapped_files() -> Vec<(usize, usize, String)> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (lo, hi) = f.next()?.split_once('-')?;
            let path = f.nth(4)?;
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
                path.to_string(),
            ))
        })
        .collect()
}

#[test]
fn model_and_external_data_files_are_mapped_not_copied() {
    let dir = std::env::temp_dir().join(format!("neoc-onnx-mmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // weights.bin: 4096 bytes of padding, w (f32[1024, 1024], 4 MiB), then w2 (f32[1024]).
    let big: Vec<f32> = (0..1024 * 1024).map(|i| i as f32).collect();
    let small: Vec<f32> = (0..1024).map(|i| -(i as f32)).collect();
    let mut data = vec![0u8; 4096];
    data.extend(big.iter().chain(&small).flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("weights.bin"), &data).unwrap();

    let entry = |k: &str, v: String| onnx::StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    let external = |name: &str, dims: Vec<i64>, offset: usize, length: usize| onnx::TensorProto {
        name: name.into(),
        dims,
        data_type: onnx::FLOAT,
        external_data: vec![
            entry("location", "weights.bin".into()),
            entry("offset", offset.to_string()),
            entry("length", length.to_string()),
        ],
        data_location: onnx::DataLocation::External as i32,
        ..Default::default()
    };
    let b_values: Vec<f32> = (0..1024).map(|i| i as f32 * 0.5).collect();
    let b = onnx::TensorProto {
        name: "b".into(),
        dims: vec![1024],
        data_type: onnx::FLOAT,
        raw_data: b_values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let mut g = onnx::GraphProto {
        input: vec![value("x", &["1024", "1024"])],
        output: vec![value("out", &["1024", "1024"])],
        initializer: vec![
            external("w", vec![1024, 1024], 4096, 4 << 20),
            external("w2", vec![1024], 4096 + (4 << 20), 4096),
            b,
        ],
        ..Default::default()
    };
    g.node.push(node("Mul", "scale", &["x", "w"], &["y"]));
    g.node.push(node("Add", "bias", &["y", "b"], &["z"]));
    g.node.push(node("Add", "bias2", &["z", "w2"], &["out"]));
    let path = dir.join("model.onnx");
    std::fs::write(&path, encode(&model(13, g))).unwrap();

    let g = import_file(&path, &ImportOptions::default()).unwrap();
    let constant = |name: &str| {
        let id = g
            .values()
            .find(|(_, v)| v.name == name)
            .map(|(id, _)| id)
            .unwrap();
        g.const_value(id).unwrap()
    };
    let (w, w2, b) = (constant("w"), constant("w2"), constant("b"));
    assert_eq!(w.to_f32_vec(), big);
    assert_eq!(w2.to_f32_vec(), small);
    assert_eq!(b.to_f32_vec(), b_values);
    // Both external tensors are slices of one buffer: the file, mapped once.
    let (pw, pw2) = (w.bytes().as_ptr() as usize, w2.bytes().as_ptr() as usize);
    assert_eq!(pw2.wrapping_sub(pw), 4 << 20);

    #[cfg(target_os = "linux")]
    {
        let maps = mapped_files();
        let inside = |p: usize, len: usize, file: &str| {
            maps.iter().any(|(lo, hi, path)| {
                p >= *lo && p + len <= *hi && Path::new(path) == dir.join(file)
            })
        };
        assert!(inside(pw, w.bytes().len(), "weights.bin"), "w was copied");
        assert!(
            inside(pw2, w2.bytes().len(), "weights.bin"),
            "w2 was copied"
        );
        let pb = b.bytes().as_ptr() as usize;
        assert!(inside(pb, b.bytes().len(), "model.onnx"), "b was copied");
    }
    drop(g);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn empty_files_are_errors_not_panics() {
    let dir = std::env::temp_dir().join(format!("neoc-onnx-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("empty.onnx");
    std::fs::write(&path, b"").unwrap();
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("not a valid ONNX model"), "{e}");
    assert!(matches!(
        read_model_info(&path),
        Err(OnnxError::Decode { .. })
    ));

    // An empty external data file is too short for the tensor.
    std::fs::write(dir.join("empty.bin"), b"").unwrap();
    let path = dir.join("model.onnx");
    std::fs::write(&path, encode(&external_model("empty.bin"))).unwrap();
    let e = import_file(&path, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::ExternalData { .. }), "{e:?}");
    assert!(e.to_string().contains("past the end"), "{e}");

    // A directory is not a model file.
    let e = import_file(&dir, &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }), "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A model that imports only another domain (here ai.onnx.ml) gets its operators named
/// with their domain, not just "no default opset".
#[test]
fn other_domain_only_models_name_their_operators() {
    let g = onnx::GraphProto {
        name: "ml".into(),
        node: vec![onnx::NodeProto {
            op_type: "SVMRegressor".into(),
            domain: "ai.onnx.ml".into(),
            name: "bin".into(),
            input: vec!["x".into()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        input: vec![value("x", &["4"])],
        output: vec![value("y", &["4"])],
        ..Default::default()
    };
    let mut m = model(13, g);
    m.opset_import = vec![onnx::OperatorSetIdProto {
        domain: "ai.onnx.ml".into(),
        version: 3,
    }];
    let err = neoc_onnx::import_bytes(encode(&m), None, "ml.onnx", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SVMRegressor") && err.contains("ai.onnx.ml") && err.contains("bin"),
        "{err}"
    );

    // With no nodes at all, the missing default opset is what is reported.
    let mut empty = m.clone();
    if let Some(g) = empty.graph.as_mut() {
        g.node.clear();
    }
    let err = neoc_onnx::import_bytes(encode(&empty), None, "ml.onnx", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("default ONNX domain"), "{err}");
}
