//! Op mapping checks for Pad, the Reduce family, Where/Expand and the boolean ops on
//! one-node models: each opset form is imported and checked through constant folding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::models::{out_f32, out_shape, run, with};
use common::onnx::{self, *};
use neoc_ir::Op;

/// `x` = [[1,2,3],[4,5,6]].
fn x23() -> onnx::TensorProto {
    floats("x", &[2, 3], &[1., 2., 3., 4., 5., 6.])
}

#[test]
fn pad_attribute_form_opset_7() {
    let g = run(
        7,
        &[],
        vec![x23()],
        vec![
            with(
                node("Pad", "p", &["x"], &["c"]),
                vec![attr_ints("pads", &[0, 1, 1, 0]), attr_f("value", 7.)],
            ),
            with(
                node("Pad", "r", &["x"], &["r"]),
                vec![attr_ints("pads", &[0, 2, 0, 1]), attr_s("mode", "reflect")],
            ),
        ],
        &["c", "r"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[3,4]");
    assert_eq!(
        out_f32(&g, 0),
        vec![7., 1., 2., 3., 7., 4., 5., 6., 7., 7., 7., 7.]
    );
    assert_eq!(
        out_f32(&g, 1),
        vec![3., 2., 1., 2., 3., 2., 6., 5., 4., 5., 6., 5.]
    );
}

#[test]
fn pad_input_form_with_value_and_negative_pads() {
    let g = run(
        13,
        &[],
        vec![
            x23(),
            ints("pads", &[0, -1, 1, 0]),
            floats("v", &[], &[-1.]),
        ],
        vec![
            node("Pad", "p", &["x", "pads", "v"], &["c"]),
            with(
                node("Pad", "e", &["x", "pads"], &["e"]),
                vec![attr_s("mode", "edge")],
            ),
        ],
        &["c", "e"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![2., 3., 5., 6., -1., -1.]);
    assert_eq!(out_f32(&g, 1), vec![2., 3., 5., 6., 5., 6.]);
}

#[test]
fn pad_axes_input_and_wrap() {
    let g = run(
        19,
        &[],
        vec![x23(), ints("pads", &[1, 2]), ints("axes", &[-1])],
        vec![
            node("Pad", "p", &["x", "pads", "", "axes"], &["c"]),
            with(
                node("Pad", "w", &["x", "pads", "", "axes"], &["w"]),
                vec![attr_s("mode", "wrap")],
            ),
        ],
        &["c", "w"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[2,6]");
    assert_eq!(
        out_f32(&g, 0),
        vec![0., 1., 2., 3., 0., 0., 0., 4., 5., 6., 0., 0.]
    );
    assert_eq!(
        out_f32(&g, 1),
        vec![3., 1., 2., 3., 1., 2., 6., 4., 5., 6., 4., 5.]
    );
}

#[test]
fn pad_refusals_are_clear() {
    // wrap before opset 19
    let e = run(
        18,
        &[],
        vec![x23(), ints("pads", &[0, 1, 0, 1])],
        vec![with(
            node("Pad", "p", &["x", "pads"], &["y"]),
            vec![attr_s("mode", "wrap")],
        )],
        &["y"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("wrap") && e.contains("19"), "{e}");
    // pads must be constant
    let e = run(
        13,
        &[("x", &["2", "3"]), ("pads", &["4"])],
        vec![],
        vec![node("Pad", "p", &["x", "pads"], &["y"])],
        &["y"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("pads") && e.contains("constant"), "{e}");
    // reflect wider than the axis
    let e = run(
        13,
        &[],
        vec![x23(), ints("pads", &[0, 3, 0, 0])],
        vec![with(
            node("Pad", "p", &["x", "pads"], &["y"]),
            vec![attr_s("mode", "reflect")],
        )],
        &["y"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("reflect"), "{e}");
}

#[test]
fn reduce_axes_attribute_before_18() {
    let g = run(
        13,
        &[],
        vec![x23()],
        vec![
            with(
                node("ReduceMean", "m", &["x"], &["m"]),
                vec![attr_ints("axes", &[-1])],
            ),
            with(
                node("ReduceMax", "a", &["x"], &["a"]),
                vec![attr_ints("axes", &[0]), attr_i("keepdims", 0)],
            ),
            node("ReduceProd", "p", &["x"], &["p"]),
            with(
                node("ReduceL2", "l", &["x"], &["l"]),
                vec![attr_ints("axes", &[1]), attr_i("keepdims", 0)],
            ),
        ],
        &["m", "a", "p", "l"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[2,1]");
    assert_eq!(out_f32(&g, 0), vec![2., 5.]);
    assert_eq!(out_shape(&g, 1), "f32[3]");
    assert_eq!(out_f32(&g, 1), vec![4., 5., 6.]);
    assert_eq!(out_shape(&g, 2), "f32[1,1]");
    assert_eq!(out_f32(&g, 2), vec![720.]);
    assert_eq!(out_f32(&g, 3), vec![14f32.sqrt(), 77f32.sqrt()]);
}

#[test]
fn reduce_sum_axes_input_from_13_and_noop() {
    let g = run(
        13,
        &[("y", &["2", "3"])],
        vec![x23(), ints("axes", &[0, -1, 0]), ints("none", &[])],
        vec![
            with(
                node("ReduceSum", "s", &["x", "axes"], &["s"]),
                vec![attr_i("keepdims", 0)],
            ),
            node("ReduceSum", "all", &["x", "none"], &["all"]),
            with(
                node("ReduceSum", "noop", &["y", "none"], &["noop"]),
                vec![attr_i("noop_with_empty_axes", 1)],
            ),
        ],
        &["s", "all", "noop"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[]");
    assert_eq!(out_f32(&g, 0), vec![21.]);
    assert_eq!(out_shape(&g, 1), "f32[1,1]");
    // The no-op is an Identity of the (non-constant) input.
    assert_eq!(out_shape(&g, 2), "f32[2,3]");
    let ops: Vec<String> = g
        .topo_order()
        .into_iter()
        .map(|n| g.node(n).op.to_string())
        .collect();
    assert_eq!(ops, vec!["Identity".to_string()]);
}

#[test]
fn reduce_axes_input_from_18_and_log_sum_exp() {
    let g = run(
        18,
        &[("y", &["2", "3"])],
        vec![x23(), ints("ax", &[1])],
        vec![
            node("ReduceMin", "m", &["x", "ax"], &["m"]),
            with(
                node("ReduceSumSquare", "q", &["x", "ax"], &["q"]),
                vec![attr_i("keepdims", 0)],
            ),
            with(
                node("ReduceLogSumExp", "e", &["x", "ax"], &["e"]),
                vec![attr_i("keepdims", 0)],
            ),
            node("ReduceMean", "n", &["y", "ax"], &["n"]),
        ],
        &["m", "q", "e", "n"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![1., 4.]);
    assert_eq!(out_f32(&g, 1), vec![14., 77.]);
    let lse = |v: &[f32]| v.iter().map(|x| x.exp()).sum::<f32>().ln();
    let e = out_f32(&g, 2);
    assert!((e[0] - lse(&[1., 2., 3.])).abs() < 1e-5, "{e:?}");
    assert!((e[1] - lse(&[4., 5., 6.])).abs() < 1e-5, "{e:?}");
    // A non-constant input stays a Reduce node with resolved axes.
    let n = g
        .topo_order()
        .into_iter()
        .map(|n| g.node(n).op.to_string())
        .find(|s| s.starts_with("ReduceMean"))
        .unwrap();
    assert_eq!(n, "ReduceMean{axes=[1] keepdims=true}");
    // The axes attribute is not read at 18: axes must come as an input.
    let e = run(
        18,
        &[("y", &["2", "3"])],
        vec![ints("ax", &[5])],
        vec![node("ReduceMax", "m", &["y", "ax"], &["m"])],
        &["m"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("axis 5"), "{e}");
}

#[test]
fn where_and_expand_broadcast() {
    let g = run(
        13,
        &[],
        vec![
            x23(),
            floats("t", &[3], &[2., 5., 0.]),
            floats("z", &[], &[0.]),
            ints("shape", &[2, 1, 3]),
        ],
        vec![
            node("Greater", "gt", &["t", "z"], &["cond"]),
            node("Where", "w", &["cond", "x", "z"], &["w"]),
            node("Expand", "e", &["t", "shape"], &["e"]),
        ],
        &["w", "e"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![1., 2., 0., 4., 5., 0.]);
    assert_eq!(out_shape(&g, 1), "f32[2,1,3]");
    assert_eq!(out_f32(&g, 1), vec![2., 5., 0., 2., 5., 0.]);

    // Bidirectional: requesting [1] keeps the input's shape; [3,1] with [2,1,1] → [2,3,1].
    let g = run(
        8,
        &[("a", &["3", "1"])],
        vec![ints("one", &[1]), ints("s", &[2, 1, 1])],
        vec![
            node("Expand", "e1", &["a", "one"], &["e1"]),
            node("Expand", "e2", &["a", "s"], &["e2"]),
        ],
        &["e1", "e2"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[3,1]");
    assert_eq!(out_shape(&g, 1), "f32[2,3,1]");
    let ops: Vec<Op> = g
        .topo_order()
        .into_iter()
        .map(|n| g.node(n).op.clone())
        .collect();
    assert!(ops.contains(&Op::Expand(neoc_ir::ops::Expand {
        shape: vec![2, 3, 1]
    })));

    let e = run(
        13,
        &[("a", &["3"])],
        vec![ints("s", &[2, 4])],
        vec![node("Expand", "e", &["a", "s"], &["y"])],
        &["y"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("broadcast"), "{e}");
}

#[test]
fn boolean_ops_desugar() {
    let g = run(
        13,
        &[],
        vec![
            floats("a", &[4], &[1., 1., -1., -1.]),
            floats("b", &[4], &[1., -1., 1., -1.]),
            floats("z", &[], &[0.]),
        ],
        vec![
            node("Greater", "ga", &["a", "z"], &["pa"]),
            node("Greater", "gb", &["b", "z"], &["pb"]),
            node("And", "and", &["pa", "pb"], &["and"]),
            node("Or", "or", &["pa", "pb"], &["or"]),
            node("Xor", "xor", &["pa", "pb"], &["xor"]),
            node("Not", "not", &["pa"], &["not"]),
        ],
        &["and", "or", "xor", "not"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![1., 0., 0., 0.]);
    assert_eq!(out_f32(&g, 1), vec![1., 1., 1., 0.]);
    assert_eq!(out_f32(&g, 2), vec![0., 1., 1., 0.]);
    assert_eq!(out_f32(&g, 3), vec![0., 0., 1., 1.]);
    let e = run(
        13,
        &[],
        vec![floats("a", &[1], &[1.])],
        vec![node("Not", "n", &["a"], &["n"])],
        &["n"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("must be bool"), "{e}");
}
