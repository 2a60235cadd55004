//! If, Loop and Scan resolved at import: the chosen branch or the unrolled body is
//! built inline (checked through structure and constant folding), and what cannot be
//! resolved statically is refused with a message that says why. The ONNX node tests
//! check the numerics against onnx's reference outputs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::models::{out_f32, out_shape, run, with};
use common::onnx::*;
use neoc_ir::Graph;
use neoc_onnx::proto::data_type::BOOL;

/// A subgraph attribute.
fn attr_g(name: &str, g: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Graph as i32,
        g: Some(g),
        ..Default::default()
    }
}

/// A subgraph with `inputs` (name, element type, dims), `nodes` and `outputs`.
fn sub(inputs: &[(&str, i32, &[&str])], nodes: Vec<NodeProto>, outputs: &[&str]) -> GraphProto {
    GraphProto {
        name: "body".into(),
        node: nodes,
        input: inputs
            .iter()
            .map(|(n, t, d)| typed_value(n, *t, d))
            .collect(),
        output: outputs
            .iter()
            .map(|n| ValueInfoProto {
                name: n.to_string(),
                r#type: None,
            })
            .collect(),
        ..Default::default()
    }
}

fn scalar_i64(name: &str, v: i64) -> TensorProto {
    TensorProto {
        dims: vec![],
        ..ints(name, &[v])
    }
}

fn scalar_bool(name: &str, v: bool) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type: BOOL,
        int32_data: vec![i32::from(v)],
        ..Default::default()
    }
}

fn const_node(out: &str, t: TensorProto) -> NodeProto {
    with(node("Constant", "", &[], &[out]), vec![attr_t("value", t)])
}

/// Names of the graph's nodes running `op`.
fn nodes_of(g: &Graph, op: &str) -> Vec<String> {
    g.topo_order()
        .into_iter()
        .map(|n| g.node(n))
        .filter(|n| n.op.name() == op)
        .map(|n| n.name.clone())
        .collect()
}

/// `If(cond) then x + c else x - c`, both branches reading outer values.
fn if_model(cond_const: Option<bool>, else_dims: &[&str]) -> Result<Graph, neoc_onnx::OnnxError> {
    let then_b = sub(&[], vec![node("Add", "add", &["x", "c"], &["t"])], &["t"]);
    let else_nodes = if else_dims == ["2"] {
        vec![node("Sub", "sub", &["x", "c"], &["e"])]
    } else {
        vec![const_node("e", floats("", &[3], &[0.0; 3]))]
    };
    let else_b = sub(&[], else_nodes, &["e"]);
    let mut inits = vec![floats("c", &[2], &[1.0, 2.0])];
    let mut input = vec![value("x", &["2"])];
    match cond_const {
        Some(v) => inits.push(scalar_bool("cond", v)),
        None => input.push(typed_value("cond", BOOL, &[])),
    }
    let graph = GraphProto {
        name: "t".into(),
        node: vec![with(
            node("If", "if", &["cond"], &["y"]),
            vec![attr_g("then_branch", then_b), attr_g("else_branch", else_b)],
        )],
        initializer: inits,
        input,
        output: vec![ValueInfoProto {
            name: "y".into(),
            r#type: None,
        }],
        ..Default::default()
    };
    neoc_onnx::import_bytes(
        encode(&model(11, graph)),
        None,
        "t.onnx",
        &neoc_onnx::ImportOptions::default(),
    )
}

#[test]
fn if_with_a_constant_condition_imports_only_the_chosen_branch() {
    let g = if_model(Some(true), &["2"]).unwrap();
    assert_eq!(nodes_of(&g, "Add"), ["if/then/add"]);
    assert!(nodes_of(&g, "Sub").is_empty());
    let g = if_model(Some(false), &["3"]).unwrap();
    assert!(nodes_of(&g, "Add").is_empty());
    assert_eq!(out_shape(&g, 0), "f32[3]");
}

#[test]
fn if_with_a_runtime_condition_selects_with_where() {
    let g = if_model(None, &["2"]).unwrap();
    assert_eq!(nodes_of(&g, "Add"), ["if/then/add"]);
    assert_eq!(nodes_of(&g, "Sub"), ["if/else/sub"]);
    assert_eq!(nodes_of(&g, "Where").len(), 1);
    let e = if_model(None, &["3"]).unwrap_err().to_string();
    assert!(
        e.contains("run-time condition whose branches differ in shape is not supported"),
        "{e}"
    );
}

/// `Loop(M, true, y)`: `y += 1` per iteration, scan output `y` after each one; the
/// body holds `If(i == 0)` choosing 10 or 1 as a second scan output.
fn loop_model(trip: Option<i64>) -> Result<Graph, neoc_onnx::OnnxError> {
    let pick = with(
        node("If", "pick", &["first"], &["p"]),
        vec![
            attr_g(
                "then_branch",
                sub(
                    &[],
                    vec![const_node("ten", floats("", &[], &[10.0]))],
                    &["ten"],
                ),
            ),
            attr_g(
                "else_branch",
                sub(
                    &[],
                    vec![const_node("one_", floats("", &[], &[1.0]))],
                    &["one_"],
                ),
            ),
        ],
    );
    let body = sub(
        &[
            ("i", INT64, &[]),
            ("c_in", BOOL, &[]),
            ("y_in", FLOAT, &["2"]),
        ],
        vec![
            node("Identity", "keep", &["c_in"], &["c_out"]),
            node("Add", "inc", &["y_in", "one"], &["y_out"]),
            node("Equal", "is_first", &["i", "zero"], &["first"]),
            pick,
        ],
        &["c_out", "y_out", "y_out", "p"],
    );
    let mut inits = vec![
        floats("y0", &[2], &[1.0, 2.0]),
        floats("one", &[], &[1.0]),
        scalar_i64("zero", 0),
        scalar_bool("cond", true),
    ];
    let mut inputs: Vec<(&str, &[&str])> = vec![];
    match trip {
        Some(m) => inits.push(scalar_i64("m", m)),
        None => inputs.push(("m", &[])),
    }
    run(
        11,
        &inputs,
        inits,
        vec![with(
            node("Loop", "loop", &["m", "cond", "y0"], &["y", "ys", "ps"]),
            vec![attr_g("body", body)],
        )],
        &["y", "ys", "ps"],
    )
}

#[test]
fn loop_unrolls_with_carried_values_scan_outputs_and_nested_if() {
    let g = loop_model(Some(3)).unwrap();
    assert_eq!(out_f32(&g, 0), [4.0, 5.0]);
    assert_eq!(out_shape(&g, 1), "f32[3,2]");
    assert_eq!(out_f32(&g, 1), [2.0, 3.0, 3.0, 4.0, 4.0, 5.0]);
    assert_eq!(out_f32(&g, 2), [10.0, 1.0, 1.0]);
}

#[test]
fn loop_refusals_say_why() {
    let e = loop_model(None).unwrap_err().to_string();
    assert!(
        e.contains("trip count M (input 0) must be a constant"),
        "{e}"
    );
    let e = loop_model(Some(1_000_000)).unwrap_err().to_string();
    assert!(e.contains("more than 100000 subgraph nodes"), "{e}");
}

#[test]
fn scan9_unrolls_with_reverse_input_direction() {
    let body = sub(
        &[("s_in", FLOAT, &["2"]), ("x_t", FLOAT, &["2"])],
        vec![node("Add", "acc", &["s_in", "x_t"], &["s_out"])],
        &["s_out", "s_out"],
    );
    let g = run(
        11,
        &[],
        vec![
            floats("s0", &[2], &[0.0, 0.0]),
            floats("x", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ],
        vec![with(
            node("Scan", "scan", &["s0", "x"], &["s", "outs"]),
            vec![
                attr_g("body", body),
                attr_i("num_scan_inputs", 1),
                attr_ints("scan_input_directions", &[1]),
            ],
        )],
        &["s", "outs"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), [9.0, 12.0]);
    assert_eq!(out_f32(&g, 1), [5.0, 6.0, 8.0, 10.0, 9.0, 12.0]);
}

#[test]
fn unsupported_ops_inside_subgraphs_are_reported() {
    let body = sub(
        &[("i", INT64, &[]), ("c_in", BOOL, &[])],
        vec![node("NoSuchOp", "odd", &["c_in"], &["c_out"])],
        &["c_out"],
    );
    let e = run(
        11,
        &[],
        vec![scalar_i64("m", 2)],
        vec![with(
            node("Loop", "loop", &["m", ""], &[]),
            vec![attr_g("body", body)],
        )],
        &["m"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("NoSuchOp") && e.contains("loop/body/odd"), "{e}");
}
