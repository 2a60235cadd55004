//! Compiled Pad, Reduce, Where and Expand kernels against the reference interpreter.
//!
//! One small graph per case (built directly in the IR, so every mode, reduction kind and
//! axis pattern is reached, including integer reductions), compiled for the host and run
//! through the runtime on seeded inputs; outputs must match `neoc_ir::interp` within the
//! `f32` tolerance. The ONNX models under `testmodels/models/ops_{pad,reduce,where}*`
//! check the same kernels against onnxruntime.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_graph, CompileOptions};
use neoc_ir::interp::{self, Tolerance};
use neoc_ir::ops::{BinaryOp, Cast, Expand, Pad, PadMode, Reduce, ReduceKind};
use neoc_ir::{DType, Graph, Op, Tensor, TensorType, ValueId};
use neoc_runtime::{Model, TensorRef};

/// Deterministic values in [-2, 2) with some exact repeats (for Max/Min ties).
fn values(n: u64, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) % 64) as f32 / 16.0 - 2.0
        })
        .collect()
}

/// A graph with one f32 input of `shape`; `body` adds nodes and returns the outputs.
fn check(name: &str, shape: &[u64], body: impl FnOnce(&mut Graph, ValueId) -> Vec<ValueId>) {
    let mut g = Graph::new(name);
    let x = g.add_input("x", TensorType::new(DType::F32, shape));
    let outs = body(&mut g, x);
    g.set_outputs(outs);
    let n: u64 = shape.iter().product();
    let data = values(n, shape.len() as u64 + n);
    let want = interp::run(&g, &[Tensor::from_f32(shape.to_vec(), &data)])
        .unwrap_or_else(|e| panic!("{name}: interpreter: {e}"));
    let opts = CompileOptions {
        target: neoc_target_spec::host_target_name().into(),
        ..CompileOptions::default()
    };
    let (artifact, _) =
        compile_graph(g, name, &opts).unwrap_or_else(|e| panic!("{name}: compile: {e}"));
    let model = Model::from_bytes(artifact.to_bytes()).unwrap();
    let got = model.run(&[TensorRef::f32(shape, &data)]).unwrap();
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(got.shape(), &want.shape[..], "{name} output {i}: shape");
        let got = got.as_f32().unwrap();
        for (k, (&a, b)) in got.iter().zip(want.to_f32_vec()).enumerate() {
            assert!(
                Tolerance::F32.accepts(f64::from(a), f64::from(b)),
                "{name} output {i} element {k}: got {a}, want {b}"
            );
        }
    }
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: &[ValueId]) -> ValueId {
    g.add_node(
        name,
        op,
        inputs.iter().map(|&v| Some(v)).collect(),
        vec![name.to_string()],
    )
    .unwrap()[0]
}

fn cast(g: &mut Graph, name: &str, x: ValueId, to: DType) -> ValueId {
    node(g, name, Op::Cast(Cast { to }), &[x])
}

#[test]
fn reductions_over_every_axis_pattern() {
    // Last axis (accumulator path), leading and middle axes (in-output path), mixed
    // patterns, all axes, and a size-1 reduced axis.
    let patterns: [(&[usize], bool); 7] = [
        (&[3], true),
        (&[0], false),
        (&[1], true),
        (&[1, 2], false),
        (&[0, 2], true),
        (&[1, 3], false),
        (&[], false),
    ];
    for kind in ReduceKind::ALL {
        check(kind.name(), &[2, 3, 1, 5], |g, x| {
            // LogSum needs positive sums; L2 and the rest take x as is.
            let x = if kind == ReduceKind::LogSum {
                node(g, "abs", Op::Unary(neoc_ir::ops::UnaryOp::Exp), &[x])
            } else {
                x
            };
            patterns
                .iter()
                .enumerate()
                .map(|(i, (axes, keepdims))| {
                    let op = Op::Reduce(Reduce {
                        kind,
                        axes: axes.to_vec(),
                        keepdims: *keepdims,
                    });
                    node(g, &format!("r{i}"), op, &[x])
                })
                .collect()
        });
    }
}

#[test]
fn integer_reductions() {
    for kind in [
        ReduceKind::Sum,
        ReduceKind::Mean,
        ReduceKind::Max,
        ReduceKind::Min,
        ReduceKind::L1,
    ] {
        check(&format!("i32_{}", kind.name()), &[3, 4, 5], |g, x| {
            let k = g.add_const("k", Tensor::from_f32(vec![], &[3.0]));
            let s = node(g, "scale", Op::Binary(BinaryOp::Mul), &[x, k]);
            let xi = cast(g, "xi", s, DType::I32);
            [(vec![2], false), (vec![0], true), (vec![], false)]
                .into_iter()
                .enumerate()
                .map(|(i, (axes, keepdims))| {
                    let op = Op::Reduce(Reduce {
                        kind,
                        axes,
                        keepdims,
                    });
                    let r = node(g, &format!("r{i}"), op, &[xi]);
                    cast(g, &format!("f{i}"), r, DType::F32)
                })
                .collect()
        });
    }
}

#[test]
fn pad_modes_and_crops() {
    let cases: [(&str, &[i64], PadMode); 8] = [
        (
            "const_spatial",
            &[0, 0, 1, 2, 0, 0, 2, 1],
            PadMode::Constant,
        ),
        ("const_all", &[1, 1, 0, 1, 1, 0, 2, 0], PadMode::Constant),
        ("reflect", &[0, 1, 2, 3, 0, 2, 1, 2], PadMode::Reflect),
        ("edge", &[1, 0, 3, 1, 0, 2, 0, 4], PadMode::Edge),
        ("wrap", &[0, 2, 5, 1, 0, 0, 1, 7], PadMode::Wrap),
        (
            "crop_const",
            &[0, -1, 2, -1, 0, 0, -2, 1],
            PadMode::Constant,
        ),
        (
            "crop_reflect",
            &[0, 0, -1, 2, 0, 0, 2, -1],
            PadMode::Reflect,
        ),
        ("crop_wrap", &[0, 0, -2, 3, 0, 0, 4, -1], PadMode::Wrap),
    ];
    for (name, pads, mode) in cases {
        check(name, &[2, 3, 4, 5], |g, x| {
            let op = Op::Pad(Pad {
                pads: pads.to_vec(),
                mode,
                value: -0.5,
            });
            vec![node(g, "pad", op, &[x])]
        });
    }
}

#[test]
fn where_expand_and_bool_logic() {
    check("where_expand", &[2, 3, 4], |g, x| {
        let zero = g.add_const("zero", Tensor::from_f32(vec![], &[0.0]));
        let half = g.add_const("half", Tensor::from_f32(vec![4], &[0.5, -0.5, 1.0, -1.0]));
        let c1 = node(g, "gt", Op::Binary(BinaryOp::Greater), &[x, zero]);
        let c2 = node(g, "lt", Op::Binary(BinaryOp::Less), &[x, half]);
        let w = node(g, "where", Op::Where, &[c1, x, half]);
        // And / Or as the frontend writes them: Where on bool operands.
        let f = g.add_const("false", Tensor::from_f64_as(DType::Bool, vec![], &[0.0]));
        let and = node(g, "and", Op::Where, &[c1, c2, f]);
        let and = cast(g, "and_f", and, DType::F32);
        let e = node(
            g,
            "expand",
            Op::Expand(Expand {
                shape: vec![3, 2, 3, 4],
            }),
            &[x],
        );
        let e2 = node(
            g,
            "expand_half",
            Op::Expand(Expand {
                shape: vec![2, 1, 4],
            }),
            &[half],
        );
        vec![w, and, e, e2]
    });
}
