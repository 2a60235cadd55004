//! TfIdfVectorizer and the `ai.onnx.ml` tree ensembles on one-node models whose input is
//! an initializer, so the desugared graph folds to the output; expected values are
//! those of onnx's reference implementation. Also the errors of malformed attributes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::models::{out_f32, with};
use common::onnx::*;
use neoc_ir::Graph;
use neoc_onnx::{import_bytes, ImportOptions, OnnxError};

/// A one-node model (default opset 21, `ai.onnx.ml` 3 or 5) computing `outputs` from
/// the initializer `x`.
fn run_node(ml: i64, x: TensorProto, n: NodeProto, outputs: &[&str]) -> Result<Graph, OnnxError> {
    let g = GraphProto {
        name: "t".into(),
        node: vec![n],
        initializer: vec![x],
        output: outputs
            .iter()
            .map(|o| ValueInfoProto {
                name: o.to_string(),
                r#type: None,
            })
            .collect(),
        ..Default::default()
    };
    let mut m = model(21, g);
    m.opset_import.push(OperatorSetIdProto {
        domain: "ai.onnx.ml".into(),
        version: ml,
    });
    import_bytes(encode(&m), None, "t.onnx", &ImportOptions::default())
}

fn int_matrix(name: &str, dims: &[i64], v: &[i64]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        ..ints(name, v)
    }
}

fn tfidf(mode: &str, indexes: &[i64], extra: Vec<AttributeProto>) -> Result<Graph, OnnxError> {
    let x = int_matrix("x", &[2, 5], &[2, 3, 2, 3, 5, 3, 3, 2, 5, 3]);
    let mut attrs = vec![
        attr_i("min_gram_length", 1),
        attr_i("max_gram_length", 2),
        attr_i("max_skip_count", 1),
        attr_ints("pool_int64s", &[2, 3, 2, 3, 2, 3]),
        attr_ints("ngram_counts", &[0, 2]),
        attr_ints("ngram_indexes", indexes),
        attr_s("mode", mode),
    ];
    attrs.extend(extra);
    let n = with(node("TfIdfVectorizer", "tf", &["x"], &["y"]), attrs);
    run_node(3, x, n, &["y"])
}

#[test]
fn tfidf_modes_repeated_ngrams_and_shared_columns() {
    let w = || vec![attr_floats("weights", &[0.5, 1., 2., 3.])];
    // Unigrams 2 and 3, the bigram (2, 3) listed twice: only its last entry counts.
    let g = tfidf("TF", &[1, 0, 2, 3], w()).unwrap();
    assert_eq!(out_f32(&g, 0), vec![2., 2., 0., 2., 3., 1., 0., 1.]);
    let g = tfidf("IDF", &[1, 0, 2, 3], w()).unwrap();
    assert_eq!(out_f32(&g, 0), vec![0.5, 1., 0., 3., 0.5, 1., 0., 3.]);
    let g = tfidf("TFIDF", &[1, 0, 2, 3], w()).unwrap();
    assert_eq!(out_f32(&g, 0), vec![1., 2., 0., 6., 1.5, 1., 0., 3.]);
    // Two n-grams per column.
    let g = tfidf("TF", &[0, 0, 1, 1], vec![]).unwrap();
    assert_eq!(out_f32(&g, 0), vec![4., 2., 4., 1.]);
}

#[test]
fn tfidf_refusals_say_why() {
    let msg = |r: Result<Graph, OnnxError>| r.unwrap_err().to_string();
    let e = msg(tfidf("BM25", &[0, 1, 2, 3], vec![]));
    assert!(e.contains("mode must be TF, IDF or TFIDF"), "{e}");
    let e = msg(tfidf(
        "IDF",
        &[0, 1, 2, 3],
        vec![attr_floats("weights", &[1.])],
    ));
    assert!(e.contains("fewer than the 4 output columns"), "{e}");
    let e = msg(tfidf("TF", &[0, 1], vec![]));
    assert!(e.contains("ngram_indexes has 2 entries"), "{e}");
    let strings = AttributeProto {
        name: "pool_strings".into(),
        r#type: AttributeType::Strings as i32,
        strings: vec![b"a".to_vec()],
        ..Default::default()
    };
    let e = msg(tfidf("TF", &[0, 1, 2, 3], vec![strings]));
    assert!(e.contains("pool_strings is not supported"), "{e}");
}

fn f32_tensor(v: &[f32]) -> TensorProto {
    floats("", &[v.len() as i64], v)
}

fn u8_tensor(v: &[u8]) -> TensorProto {
    TensorProto {
        dims: vec![v.len() as i64],
        data_type: neoc_onnx::proto::data_type::UINT8,
        int32_data: v.iter().map(|&b| i32::from(b)).collect(),
        ..Default::default()
    }
}

/// Two trees over `[x0, x1]`: `x0 != 1 ? leaf 0 : (x1 < 0.5 (NaN: true) ? leaf 1 : leaf
/// 2)` and `x1 >= 2 ? leaf 3 : leaf 4`; leaves (target, weight) (0, 1), (1, 2), (1, 4),
/// (0, 8), (1, 16).
fn two_trees(aggregate: i64, roots: &[i64], truenodes: &[i64]) -> Result<Graph, OnnxError> {
    let nan = f32::NAN;
    let x = floats("x", &[5, 2], &[1., 0., 1., nan, 0., 3., nan, 1., 1., 2.]);
    let attrs = vec![
        attr_i("aggregate_function", aggregate),
        attr_i("n_targets", 2),
        attr_ints("tree_roots", roots),
        attr_ints("nodes_featureids", &[0, 1, 1]),
        attr_t("nodes_modes", u8_tensor(&[5, 1, 2])),
        attr_t("nodes_splits", f32_tensor(&[1., 0.5, 2.])),
        attr_ints("nodes_truenodeids", truenodes),
        attr_ints("nodes_trueleafs", &[1, 1, 1]),
        attr_ints("nodes_falsenodeids", &[1, 2, 4]),
        attr_ints("nodes_falseleafs", &[0, 1, 1]),
        attr_ints("nodes_missing_value_tracks_true", &[0, 1, 0]),
        attr_ints("leaf_targetids", &[0, 1, 1, 0, 1]),
        attr_t("leaf_weights", f32_tensor(&[1., 2., 4., 8., 16.])),
    ];
    let mut n = with(node("TreeEnsemble", "te", &["x"], &["y"]), attrs);
    n.domain = "ai.onnx.ml".into();
    run_node(5, x, n, &["y"])
}

#[test]
fn tree_ensemble_aggregates_nan_and_modes() {
    let g = two_trees(1, &[0, 2], &[0, 1, 3]).unwrap();
    assert_eq!(
        out_f32(&g, 0),
        vec![0., 18., 0., 18., 9., 0., 1., 16., 8., 4.]
    );
    let g = two_trees(0, &[0, 2], &[0, 1, 3]).unwrap();
    assert_eq!(
        out_f32(&g, 0),
        vec![0., 9., 0., 9., 4.5, 0., 0.5, 8., 4., 2.]
    );
    // A target no reached leaf votes for keeps the type's extreme.
    let (max, min) = (f32::MAX, f32::MIN);
    let g = two_trees(2, &[0, 2], &[0, 1, 3]).unwrap();
    assert_eq!(
        out_f32(&g, 0),
        vec![max, 2., max, 2., 1., max, 1., 16., 8., 4.]
    );
    let g = two_trees(3, &[0, 2], &[0, 1, 3]).unwrap();
    assert_eq!(
        out_f32(&g, 0),
        vec![min, 16., min, 16., 8., min, 1., 16., 8., 4.]
    );
}

#[test]
fn tree_ensemble_refusals_say_why() {
    let msg = |r: Result<Graph, OnnxError>| r.unwrap_err().to_string();
    let e = msg(two_trees(1, &[0, 7], &[0, 1, 3]));
    assert!(e.contains("tree root 7 is not a node"), "{e}");
    let e = msg(two_trees(1, &[0, 2], &[0, 1, 9]));
    assert!(e.contains("outside the 3 nodes or 5 leaves"), "{e}");
    let e = msg(two_trees(5, &[0, 2], &[0, 1, 3]));
    assert!(e.contains("aggregate_function 5"), "{e}");
}

/// A one-tree TreeEnsembleClassifier: `x0 <= 0.5 ? leaf 1 : leaf 2`, each leaf voting
/// for class 0 only (the binary case) with weight -2 and 3.
fn binary_classifier(post: &str) -> Result<Graph, OnnxError> {
    let x = floats("x", &[3, 1], &[0., 1., f32::NAN]);
    let strings = |name: &str, v: &[&str]| AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let attrs = vec![
        attr_ints("nodes_treeids", &[0, 0, 0]),
        attr_ints("nodes_nodeids", &[0, 1, 2]),
        attr_ints("nodes_featureids", &[0, 0, 0]),
        strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
        attr_floats("nodes_values", &[0.5, 0., 0.]),
        attr_ints("nodes_truenodeids", &[1, 0, 0]),
        attr_ints("nodes_falsenodeids", &[2, 0, 0]),
        attr_ints("class_treeids", &[0, 0]),
        attr_ints("class_nodeids", &[1, 2]),
        attr_ints("class_ids", &[0, 0]),
        attr_floats("class_weights", &[-2., 3.]),
        attr_ints("classlabels_int64s", &[4, 7]),
        attr_s("post_transform", post),
    ];
    let mut n = with(
        node("TreeEnsembleClassifier", "tc", &["x"], &["label", "scores"]),
        attrs,
    );
    n.domain = "ai.onnx.ml".into();
    run_node(3, x, n, &["label", "scores"])
}

#[test]
fn tree_ensemble_classifier_binary_case_and_labels() {
    let g = binary_classifier("NONE").unwrap();
    let labels = g.const_value(g.outputs()[0]).unwrap().to_i64_vec();
    // Scores [1 - s, s]; the NaN row takes the false branch.
    assert_eq!(out_f32(&g, 1), vec![3., -2., -2., 3., -2., 3.]);
    assert_eq!(labels, vec![4, 7, 7]);
    let g = binary_classifier("LOGISTIC").unwrap();
    let sig = |v: f32| 1. / (1. + (-v).exp());
    let want = [sig(2.), sig(-2.), sig(-3.), sig(3.), sig(-3.), sig(3.)];
    for (got, want) in out_f32(&g, 1).iter().zip(want) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let e = binary_classifier("SQUASH").unwrap_err().to_string();
    assert!(e.contains("post_transform \"SQUASH\" is unknown"), "{e}");
}
