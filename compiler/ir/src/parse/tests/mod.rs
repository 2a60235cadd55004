//! Round-trip and error tests for the text form.

use super::*;
use crate::ops::{
    ArgReduce, BatchNorm, BinaryOp, Cast, Concat, Conv, ElemInstr, ElemProgram, Expand, Fused,
    Gather, Gemm, GlobalPool, LayerNorm, Op, Pad, PadMode, Pool, PoolKind, Reduce, ReduceKind,
    Reshape, Shape, Slice, SliceAxis, Softmax, Transpose, UnaryOp,
};
use crate::print::PrintOptions;
use crate::tensor::Tensor;

mod every_op;
pub(crate) use every_op::every_op;
use every_op::{op_index, unary_index, OP_COUNT, UNARY_COUNT};

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
