//! Round-trip and error tests for the text form.

use super::*;
use crate::ops::{
    ArgReduce, BatchNorm, BinaryOp, Cast, Concat, Conv, ElemInstr, ElemProgram, Expand, Fused,
    Gather, Gemm, GlobalPool, LayerNorm, Op, Pad, PadMode, Pool, PoolKind, Reduce, ReduceKind,
    Reshape, Shape, Slice, SliceAxis, Softmax, Transpose, UnaryOp,
};
use crate::print::PrintOptions;
use crate::tensor::Tensor;

/// Prints, parses, prints again: the texts must be identical and the graphs
/// structurally equal.
fn roundtrip(g: &Graph) -> String {
    let text = g.to_string();
    let back = parse_graph(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.to_string(), text);
    assert!(
        g.structurally_equal(&back),
        "not structurally equal:\n{text}"
    );
    text
}

fn f32t(d: &[u64]) -> TensorType {
    TensorType::new(DType::F32, d)
}

fn node(g: &mut Graph, name: &str, op: Op, ins: &[ValueId]) -> ValueId {
    let ins = ins.iter().map(|v| Some(*v)).collect();
    g.add_node_unfolded(name, op, ins, vec![format!("{name}.out")])
        .unwrap_or_else(|e| panic!("{name}: {e}"))[0]
}

fn unaries() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![
        Relu,
        LeakyRelu { alpha: 0.1 },
        Sigmoid,
        HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        HardSwish,
        Elu { alpha: 1.5 },
        Tanh,
        Clip {
            min: f32::NEG_INFINITY,
            max: 6.0,
        },
        Clip {
            min: 0.0,
            max: f32::INFINITY,
        },
        Exp,
        Log,
        Sqrt,
        Reciprocal,
        Abs,
        Neg,
        Erf,
        Floor,
        Ceil,
        Softplus,
        Gelu { tanh: false },
        Gelu { tanh: true },
        Round,
    ]
}

/// Fails to compile when a unary function is added, and the test below fails until
/// `unaries` (and so the round-trip test) includes it.
fn unary_index(u: &UnaryOp) -> usize {
    use UnaryOp::*;
    match u {
        Relu => 0,
        LeakyRelu { .. } => 1,
        Sigmoid => 2,
        HardSigmoid { .. } => 3,
        HardSwish => 4,
        Elu { .. } => 5,
        Tanh => 6,
        Clip { .. } => 7,
        Exp => 8,
        Log => 9,
        Sqrt => 10,
        Reciprocal => 11,
        Abs => 12,
        Neg => 13,
        Erf => 14,
        Floor => 15,
        Ceil => 16,
        Softplus => 17,
        Gelu { .. } => 18,
        Round => 19,
    }
}
const UNARY_COUNT: usize = 20;

/// As [`unary_index`], for operators.
fn op_index(op: &Op) -> usize {
    match op {
        Op::Unary(_) => 0,
        Op::Binary(_) => 1,
        Op::Conv(_) => 2,
        Op::Pool(_) => 3,
        Op::GlobalPool(_) => 4,
        Op::Gemm(_) => 5,
        Op::MatMul => 6,
        Op::BatchNorm(_) => 7,
        Op::Softmax(_) => 8,
        Op::Reshape(_) => 9,
        Op::Transpose(_) => 10,
        Op::Concat(_) => 11,
        Op::Gather(_) => 12,
        Op::Slice(_) => 13,
        Op::Shape(_) => 14,
        Op::Cast(_) => 15,
        Op::Identity => 16,
        Op::Pad(_) => 17,
        Op::Reduce(_) => 18,
        Op::Where => 19,
        Op::Expand(_) => 20,
        Op::LayerNorm(_) => 21,
        Op::Elementwise(_) => 22,
        Op::Fused(_) => 23,
        Op::ArgReduce(_) => 24,
    }
}
const OP_COUNT: usize = 25;

/// One graph using every operator (and every attribute form) once.
pub(crate) fn every_op() -> Graph {
    use BinaryOp::*;
    let mut g = Graph::new("every op");
    let x = g.add_input("x", f32t(&[1, 4, 8, 8]));
    let m = g.add_input("m", f32t(&[4, 6]));
    let ids = g.add_input("ids \"q\"", TensorType::new(DType::I64, &[2]));
    let sym = g.add_input(
        "s",
        TensorType {
            dtype: DType::F32,
            shape: IrShape(vec![
                Dim::Sym("batch".into()),
                Dim::Fixed(3),
                Dim::Sym("seq len".into()),
            ]),
        },
    );
    let mut outs = vec![node(&mut g, "sym_relu", Op::Unary(UnaryOp::Relu), &[sym])];
    for (i, u) in unaries().into_iter().enumerate() {
        outs.push(node(&mut g, &format!("u{i}"), Op::Unary(u), &[x]));
    }
    for b in BinaryOp::ALL {
        outs.push(node(&mut g, b.name(), Op::Binary(b), &[x, x]));
    }
    let w = g.add_const(
        "w",
        Tensor::from_f32(
            vec![4, 2, 3, 3],
            &(0..72).map(|i| i as f32 * 0.1).collect::<Vec<_>>(),
        ),
    );
    let b = g.add_const("b", Tensor::from_f32(vec![4], &[0.0; 4]));
    let conv = Conv {
        kernel: vec![3, 3],
        strides: vec![2, 1],
        pads: vec![1, 0, 1, 2],
        dilations: vec![1, 2],
        group: 2,
    };
    outs.push(node(&mut g, "conv_b", Op::Conv(conv.clone()), &[x, w, b]));
    let c = g
        .add_node_unfolded(
            "conv",
            Op::Conv(conv.clone()),
            vec![Some(x), Some(w), None],
            vec![],
        )
        .unwrap_or_else(|e| panic!("{e}"))[0];
    outs.push(c);
    for (kind, ceil) in [
        (PoolKind::Max, true),
        (
            PoolKind::Avg {
                count_include_pad: true,
            },
            false,
        ),
        (
            PoolKind::Avg {
                count_include_pad: false,
            },
            true,
        ),
    ] {
        let p = Pool {
            kind,
            kernel: vec![3, 3],
            strides: vec![2, 2],
            pads: vec![1, 1, 1, 1],
            dilations: vec![1, 1],
            ceil_mode: ceil,
        };
        outs.push(node(&mut g, "pool", Op::Pool(p), &[x]));
    }
    for kind in [
        PoolKind::Max,
        PoolKind::Avg {
            count_include_pad: false,
        },
        PoolKind::Avg {
            count_include_pad: true,
        },
    ] {
        outs.push(node(
            &mut g,
            "gpool",
            Op::GlobalPool(GlobalPool { kind }),
            &[x],
        ));
    }
    let gemm = Gemm {
        alpha: 0.5,
        beta: 1e-7,
        trans_a: true,
        trans_b: false,
    };
    let cm = g.add_const(
        "c",
        Tensor::from_f32(vec![6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    );
    outs.push(node(&mut g, "gemm", Op::Gemm(gemm), &[m, m, cm]));
    let gemm2 = Gemm {
        trans_a: false,
        trans_b: true,
        ..gemm
    };
    outs.push(node(&mut g, "gemm2", Op::Gemm(gemm2), &[m, m]));
    outs.push(node(&mut g, "matmul", Op::MatMul, &[x, x]));
    let stats: Vec<ValueId> = (0..4)
        .map(|i| {
            g.add_const(
                format!("bn{i}"),
                Tensor::from_f32(vec![4], &[1.0, 2.0, 0.5, 0.25]),
            )
        })
        .collect();
    outs.push(node(
        &mut g,
        "bn",
        Op::BatchNorm(BatchNorm { epsilon: 1e-3 }),
        &[x, stats[0], stats[1], stats[2], stats[3]],
    ));
    for log in [false, true] {
        outs.push(node(
            &mut g,
            "sm",
            Op::Softmax(Softmax { axis: 1, log }),
            &[x],
        ));
    }
    outs.push(node(
        &mut g,
        "reshape",
        Op::Reshape(Reshape { shape: vec![4, 64] }),
        &[x],
    ));
    outs.push(node(
        &mut g,
        "transpose",
        Op::Transpose(Transpose {
            perm: vec![0, 2, 3, 1],
        }),
        &[x],
    ));
    outs.push(node(
        &mut g,
        "concat",
        Op::Concat(Concat { axis: 1 }),
        &[x, x, x],
    ));
    outs.push(node(
        &mut g,
        "gather",
        Op::Gather(Gather { axis: 1 }),
        &[x, ids],
    ));
    let slice = Slice {
        axes: vec![
            SliceAxis {
                axis: 1,
                start: 0,
                end: 2,
                step: 1,
            },
            SliceAxis {
                axis: 3,
                start: 7,
                end: -1,
                step: -2,
            },
        ],
    };
    outs.push(node(&mut g, "slice", Op::Slice(slice), &[x]));
    outs.push(node(
        &mut g,
        "shape",
        Op::Shape(Shape { start: 1, end: 3 }),
        &[x],
    ));
    outs.push(node(
        &mut g,
        "cast",
        Op::Cast(Cast { to: DType::F16 }),
        &[x],
    ));
    outs.push(node(&mut g, "identity", Op::Identity, &[x]));
    for (mode, value) in [
        (PadMode::Constant, -1.5),
        (PadMode::Reflect, 0.0),
        (PadMode::Edge, 0.0),
        (PadMode::Wrap, 0.0),
    ] {
        let pad = Pad {
            pads: vec![0, 0, 1, -1, 0, 0, 2, 1],
            mode,
            value,
        };
        outs.push(node(&mut g, "pad", Op::Pad(pad), &[x]));
    }
    for (kind, axes, keepdims) in [
        (ReduceKind::Sum, vec![1], true),
        (ReduceKind::Mean, vec![2, 3], false),
        (ReduceKind::Max, vec![], true),
        (ReduceKind::Min, vec![0], true),
        (ReduceKind::Prod, vec![1], true),
        (ReduceKind::SumSquare, vec![1], true),
        (ReduceKind::L1, vec![1], true),
        (ReduceKind::L2, vec![1], true),
        (ReduceKind::LogSum, vec![1], false),
    ] {
        let r = Reduce {
            kind,
            axes,
            keepdims,
        };
        outs.push(node(&mut g, "reduce", Op::Reduce(r), &[x]));
    }
    for (max, axis, keepdims, last) in [(true, 1, true, false), (false, 3, false, true)] {
        let a = ArgReduce {
            max,
            axis,
            keepdims,
            last,
        };
        outs.push(node(&mut g, "arg", Op::ArgReduce(a), &[x]));
    }
    let less = node(&mut g, "less", Op::Binary(Less), &[x, x]);
    outs.push(node(&mut g, "where", Op::Where, &[less, x, x]));
    outs.push(node(
        &mut g,
        "expand",
        Op::Expand(Expand {
            shape: vec![2, 1, 4, 8, 8],
        }),
        &[x],
    ));
    let ln = LayerNorm {
        axis: 2,
        epsilon: 1e-6,
    };
    let ln_s = g.add_const("ln_s", Tensor::from_f32(vec![8], &[1.0; 8]));
    outs.push(node(&mut g, "ln", Op::LayerNorm(ln), &[x, ln_s]));
    let prog = ElemProgram {
        instrs: vec![
            ElemInstr::Input(0),
            ElemInstr::Input(1),
            ElemInstr::Const(-0.5),
            ElemInstr::Const(f32::INFINITY),
            ElemInstr::Binary(Mul, 0, 2),
            ElemInstr::Binary(Add, 4, 1),
            ElemInstr::Unary(UnaryOp::Clip { min: 0.0, max: 6.0 }, 5),
            ElemInstr::Binary(Min, 6, 3),
            ElemInstr::Unary(UnaryOp::Sigmoid, 7),
        ],
    };
    let eb = g.add_const("eb", Tensor::from_f32(vec![8], &[0.5; 8]));
    outs.push(node(&mut g, "ew", Op::Elementwise(prog), &[x, eb]));
    let fused = Fused {
        anchor: Box::new(Op::Conv(Conv {
            strides: vec![1, 1],
            group: 1,
            dilations: vec![1, 1],
            pads: vec![1, 1, 1, 1],
            kernel: vec![3, 3],
        })),
        anchor_inputs: 3,
        epilogue: ElemProgram {
            instrs: vec![
                ElemInstr::Input(0),
                ElemInstr::Input(1),
                ElemInstr::Binary(Add, 0, 1),
                ElemInstr::Unary(UnaryOp::LeakyRelu { alpha: 0.01 }, 2),
            ],
        },
    };
    let w4 = g.add_const("w4", Tensor::from_f32(vec![4, 4, 3, 3], &[0.25; 144]));
    outs.push(
        g.add_node_unfolded(
            "fused",
            Op::Fused(fused),
            vec![Some(x), Some(w4), None, Some(x)],
            vec![],
        )
        .unwrap_or_else(|e| panic!("{e}"))[0],
    );
    outs.push(x);
    outs.push(b);
    g.set_outputs(outs);
    g
}

#[test]
fn every_op_round_trips() {
    let g = every_op();
    let text = roundtrip(&g);
    // Every operator and unary function is present.
    let mut seen = [false; OP_COUNT];
    let mut seen_unary = [false; UNARY_COUNT];
    for n in g.topo_order() {
        seen[op_index(&g.node(n).op)] = true;
        if let Op::Unary(u) = &g.node(n).op {
            seen_unary[unary_index(u)] = true;
        }
    }
    assert!(
        seen.iter().all(|s| *s),
        "ops missing from every_op: {seen:?}"
    );
    assert!(
        seen_unary.iter().all(|s| *s),
        "unaries missing: {seen_unary:?}"
    );
    assert!(text.contains("Clip{min=-inf max=6.0}"), "{text}");
    assert!(text.contains("f32[batch,3,\"seq len\"]"), "{text}");
    assert!(text.contains("Fused{anchor_inputs=3 Conv{"), "{text}");
    assert!(text.contains("(%0, %"), "{text}");
    assert!(text.contains(", _) :"), "{text}");
}

/// Every dtype, with extreme and special values, splats, empty and scalar tensors.
#[test]
fn constants_round_trip_exactly() {
    let mut g = Graph::new("consts");
    let mut outs = Vec::new();
    let le = |v: Vec<Vec<u8>>| -> Vec<u8> { v.concat() };
    let cases: Vec<(DType, Vec<u64>, Vec<u8>)> = vec![
        (
            DType::F32,
            vec![10],
            le([
                0.1f32,
                -0.0,
                1e-40,
                f32::MAX,
                f32::MIN_POSITIVE,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                f32::from_bits(0xffc0_0001),
                16777217.0,
            ]
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect()),
        ),
        (
            DType::F64,
            vec![3],
            le([0.1f64, 1e300, f64::from_bits(0x7ff8_0000_0000_0001)]
                .iter()
                .map(|v| v.to_le_bytes().to_vec())
                .collect()),
        ),
        (
            DType::F16,
            vec![4],
            le([0.1f32, 65504.0, 6e-8, -2.5]
                .iter()
                .map(|v| half::f16::from_f32(*v).to_le_bytes().to_vec())
                .collect()),
        ),
        (
            DType::BF16,
            vec![3],
            le([0.1f32, 3e38, -1.0]
                .iter()
                .map(|v| half::bf16::from_f32(*v).to_le_bytes().to_vec())
                .collect()),
        ),
        (DType::I8, vec![3], vec![0x80, 0x7f, 0xff]),
        (DType::U8, vec![2], vec![0, 255]),
        (
            DType::I16,
            vec![2],
            le(vec![
                i16::MIN.to_le_bytes().to_vec(),
                7i16.to_le_bytes().to_vec(),
            ]),
        ),
        (
            DType::U16,
            vec![2],
            le(vec![
                u16::MAX.to_le_bytes().to_vec(),
                7u16.to_le_bytes().to_vec(),
            ]),
        ),
        (
            DType::I32,
            vec![2],
            le(vec![
                i32::MIN.to_le_bytes().to_vec(),
                (-7i32).to_le_bytes().to_vec(),
            ]),
        ),
        (
            DType::U32,
            vec![2],
            le(vec![
                u32::MAX.to_le_bytes().to_vec(),
                7u32.to_le_bytes().to_vec(),
            ]),
        ),
        (
            DType::I64,
            vec![2],
            le(vec![
                i64::MIN.to_le_bytes().to_vec(),
                i64::MAX.to_le_bytes().to_vec(),
            ]),
        ),
        (
            DType::U64,
            vec![2],
            le(vec![
                u64::MAX.to_le_bytes().to_vec(),
                0u64.to_le_bytes().to_vec(),
            ]),
        ),
        (DType::Bool, vec![2, 2], vec![1, 0, 0, 1]),
        (
            DType::F32,
            vec![3, 2],
            le(vec![1.5f32.to_le_bytes().to_vec(); 6]),
        ),
        (DType::I64, vec![0], vec![]),
        (DType::F32, vec![], 2.0f32.to_le_bytes().to_vec()),
        (DType::F32, vec![1], 2.0f32.to_le_bytes().to_vec()),
    ];
    for (i, (dtype, shape, bytes)) in cases.into_iter().enumerate() {
        let t = Tensor::from_bytes(dtype, shape, bytes.into()).unwrap();
        let c = g.add_const(format!("c{i}"), t);
        outs.push(node(&mut g, &format!("id{i}"), Op::Identity, &[c]));
    }
    g.set_outputs(outs);
    let text = roundtrip(&g);
    for s in [
        "[0.1, -0.0, 1e-40, 3.4028235e38, 1.1754944e-38, inf, -inf, NaN, NaN(0xffc00001), 16777216.0]",
        "NaN(0x7ff8000000000001)",
        "[-128, 127, -1]",
        "[18446744073709551615, 0]",
        "[true, false, false, true]",
        "splat 1.5",
        "const i64[0] \"c14\" []",
        "const f32[] \"c15\" [2.0]",
    ] {
        assert!(text.contains(s), "missing {s} in\n{text}");
    }
}

#[test]
fn names_are_quoted_and_node_names_kept() {
    let mut g = Graph::new("torch-jit export");
    let x = g.add_input("ü/x\n\"", f32t(&[2]));
    let y = g
        .add_node_unfolded(
            "node \\ 1",
            Op::Unary(UnaryOp::Relu),
            vec![Some(x)],
            vec!["y".into()],
        )
        .unwrap()[0];
    let z = g
        .add_node_unfolded(
            "z",
            Op::Unary(UnaryOp::Exp),
            vec![Some(y)],
            vec!["z".into()],
        )
        .unwrap()[0];
    g.set_outputs(vec![z, y, z]);
    let text = roundtrip(&g);
    assert_eq!(
        text,
        "graph \"torch-jit export\"(%0: f32[2] \"ü/x\\n\\\"\") -> (%2, %1, %2) {\n  \
         %1 = Relu(%0) : f32[2] \"y\" @\"node \\\\ 1\"\n  \
         %2 = Exp(%1) : f32[2] \"z\"\n}\n"
    );
}

#[test]
fn canonical_numbering_renumbers_and_orders() {
    // Hand-written text with names instead of numbers, constants after use order.
    let text = "graph g(%x: f32[2] \"x\") -> (%r) {
        %b = const f32[2] \"b\" [1.0, 2.0]
        %a = const f32[2] \"a\" splat 3.0
        %s = Add(%x, %a) : f32[2] \"s\"
        %r = Mul(%s, %b) : f32[2] \"r\" // trailing comment
    }";
    let g = parse_graph(text).unwrap();
    let printed = g.to_string();
    assert_eq!(
        printed,
        "graph g(%0: f32[2] \"x\") -> (%4) {\n  \
         %1 = const f32[2] \"a\" splat 3.0\n  \
         %2 = const f32[2] \"b\" [1.0, 2.0]\n  \
         %3 = Add(%0, %1) : f32[2] \"s\"\n  \
         %4 = Mul(%3, %2) : f32[2] \"r\"\n}\n"
    );
    assert!(g.structurally_equal(&parse_graph(&printed).unwrap()));
    let other = parse_graph(&printed.replace("[1.0, 2.0]", "[1.0, 2.5]")).unwrap();
    assert!(!g.structurally_equal(&other));
    let other = parse_graph(&printed.replace("Mul", "Sub")).unwrap();
    assert!(!g.structurally_equal(&other));
}

#[test]
fn defaults_fill_omitted_attributes() {
    let text = "graph g(%x: f32[1,2,5,5] \"x\", %w: f32[4,2,3,3] \"w\") -> (%y) {
        %y = Conv{kernel=[3, 3]}(%x, %w) : f32[1,4,3,3] \"y\"
    }";
    let g = parse_graph(text).unwrap();
    assert!(g.to_string().contains(
        "Conv{kernel=[3, 3] strides=[1, 1] pads=[0, 0, 0, 0] dilations=[1, 1] group=1}(%0, %1)"
    ));
}

#[test]
fn constant_nodes_are_not_folded() {
    let mut g = Graph::new("g");
    let c = g.add_const("c", Tensor::from_f32(vec![2], &[-1.0, 1.0]));
    let r = node(&mut g, "r", Op::Unary(UnaryOp::Relu), &[c]);
    g.set_outputs(vec![r]);
    let back = parse_graph(&roundtrip(&g)).unwrap();
    assert_eq!(back.node_count(), 1);
}

#[test]
fn summary_form_elides_and_is_refused() {
    let mut g = Graph::new("g");
    let x = g.add_input("x", f32t(&[40]));
    let c = g.add_const(
        "c",
        Tensor::from_f32(vec![40], &(0..40).map(|i| i as f32).collect::<Vec<_>>()),
    );
    let y = node(&mut g, "y", Op::Binary(BinaryOp::Add), &[x, c]);
    g.set_outputs(vec![y]);
    let summary = format!("{g:#}");
    assert_eq!(summary, g.display_with(PrintOptions::SUMMARY).to_string());
    assert!(summary.contains("14.0, 15.0, ... 24 more]"), "{summary}");
    let e = parse_graph(&summary).unwrap_err();
    assert!(e.message.contains("elided"), "{e}");
    assert_eq!(e.line, 2);
}

/// (text, line, column, message fragment)
#[test]
fn malformed_text_is_reported_with_position() {
    let head = "graph g(%0: f32[2,3] \"x\") -> (%1) {\n";
    let cases: Vec<(String, usize, usize, &str)> = vec![
        (
            "graph g(%0: f32[2] \"x\" -> (%0) {}".into(),
            1,
            24,
            "expected `,`, found `->`",
        ),
        (
            format!("{head}  %1 = Frobnicate(%0) : f32[2,3] \"y\"\n}}"),
            2,
            8,
            "unknown operator `Frobnicate`",
        ),
        (
            format!("{head}  %1 = Relu(%0) : f32[2,4] \"y\"\n}}"),
            2,
            19,
            "type annotation f32[2,4] differs from the inferred type f32[2,3]",
        ),
        (
            format!("{head}  %1 = Relu(%7) : f32[2,3] \"y\"\n}}"),
            2,
            13,
            "use of undefined value `%7`",
        ),
        (
            format!(
                "{head}  %2 = const f32[2] \"c\" [1.0]\n  %1 = Add(%0, %2) : f32[2,3] \"y\"\n}}"
            ),
            2,
            25,
            "needs 2 values, found 1",
        ),
        (
            format!("{head}  %1 = Softmax{{axis=1 bogus=2}}(%0) : f32[2,3] \"y\"\n}}"),
            2,
            23,
            "unknown attribute `bogus` for Softmax",
        ),
        (
            format!("{head}  %1 = Softmax(%0) : f32[2,3] \"y\"\n}}"),
            2,
            8,
            "Softmax needs attribute `axis`",
        ),
        (
            format!("{head}  %1 = Softmax{{axis=[1]}}(%0) : f32[2,3] \"y\"\n}}"),
            2,
            21,
            "expected a non-negative integer, found a list",
        ),
        (
            format!("{head}  %1 = Relu(%0) : f32[2,3] \"y\n}}"),
            2,
            28,
            "unterminated string",
        ),
        (
            "graph g(%0: q8[2] \"x\") -> (%0) {}".into(),
            1,
            13,
            "expected an element type",
        ),
        (
            "graph g(%0: f32[2] \"x\") -> (%0) {} extra".into(),
            1,
            36,
            "expected end of input",
        ),
        (
            format!("{head}  %1 = Relu(%0) : f32[2,3] \"y\"\n  %1 = Relu(%0) : f32[2,3] \"z\"\n}}"),
            3,
            3,
            "defined twice",
        ),
        (
            format!("{head}  %1 = Conv{{kernel=[3, 3]}}(%0, %0) : f32[2,3] \"y\"\n}}"),
            2,
            8,
            "node `y` (Conv)",
        ),
        (
            format!("{head}  %1 = Elementwise{{[in0; Relu($3)]}}(%0) : f32[2,3] \"y\"\n}}"),
            2,
            26,
            "instruction $1 may only use earlier",
        ),
        (
            format!("{head}  %2 = const i8[1] \"c\" [300]\n  %1 = Relu(%0) : f32[2,3] \"y\"\n}}"),
            2,
            25,
            "expected a value of type i8, found `300`",
        ),
        (
            format!("{head}  %1 = Relu(%0) : f32[2,3] \"y\"\n"),
            3,
            1,
            "expected a value (`%N`), found end of input",
        ),
    ];
    for (text, line, column, msg) in cases {
        let e = parse_graph(&text).map(|g| g.to_string()).unwrap_err();
        assert!(e.message.contains(msg), "{e}\nwanted: {msg}\n{text}");
        assert_eq!((e.line, e.column), (line, column), "{e}\n{text}");
    }
}
