//! The every-operator fixture: one graph using every operator, unary function and
//! attribute form, with compile-time checks that it stays complete.

use super::*;

pub(super) fn unaries() -> Vec<UnaryOp> {
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
        BitNot,
    ]
    .into_iter()
    .chain(crate::ops::elementwise::TrigFn::ALL.map(Trig))
    .collect()
}

/// Fails to compile when a unary function is added, and the test below fails until
/// `unaries` (and so the round-trip test) includes it.
pub(super) fn unary_index(u: &UnaryOp) -> usize {
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
        Trig(_) => 20,
        BitNot => 21,
    }
}
pub(super) const UNARY_COUNT: usize = 22;

/// As [`unary_index`], for operators.
pub(super) fn op_index(op: &Op) -> usize {
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
        Op::Lrn(_) => 25,
        Op::Resize(_) => 26,
        Op::GatherElements(_) => 27,
        Op::CumSum(_) => 28,
        Op::ToBlocked(_) => 29,
        Op::FromBlocked(_) => 30,
        Op::BlockedConv(_) => 31,
        Op::ConvTranspose(_) => 32,
        Op::GatherNd(_) => 33,
        Op::ScatterNd(_) => 34,
        Op::ScatterElements(_) => 35,
        Op::TopK(_) => 36,
        Op::GridSample(_) => 37,
        Op::QConv(_) => 38,
        Op::DynamicQuantize => 39,
    }
}
pub(super) const OP_COUNT: usize = 40;

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
    // Bitwise ops take integers.
    let xi = g.add_input("xi", TensorType::new(DType::U16, &[2, 3]));
    for (i, u) in unaries().into_iter().enumerate() {
        let arg = if u == UnaryOp::BitNot { xi } else { x };
        outs.push(node(&mut g, &format!("u{i}"), Op::Unary(u), &[arg]));
    }
    for b in BinaryOp::ALL {
        let arg = if b.is_bitwise() { xi } else { x };
        outs.push(node(&mut g, b.name(), Op::Binary(b), &[arg, arg]));
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
    let lrn = crate::ops::Lrn {
        size: 3,
        alpha: 1e-4,
        beta: 0.75,
        bias: 2.0,
    };
    outs.push(node(&mut g, "lrn", Op::Lrn(lrn), &[x]));
    let ge_idx = g.add_const("ge_idx", Tensor::from_i64(vec![1, 4, 2, 8], &[1; 64]));
    outs.push(node(
        &mut g,
        "gather_elements",
        Op::GatherElements(crate::ops::GatherElements { axis: 2 }),
        &[x, ge_idx],
    ));
    let cumsum = crate::ops::CumSum {
        axis: 3,
        exclusive: true,
        reverse: true,
    };
    outs.push(node(&mut g, "cumsum", Op::CumSum(cumsum), &[x]));
    let blocking = crate::ops::Blocking { block: 2 };
    let xb = node(&mut g, "to_blocked", Op::ToBlocked(blocking), &[x]);
    let bw = g.add_const("bw", Tensor::from_f32(vec![4, 4, 1, 1], &[0.25; 16]));
    let bconv = crate::ops::BlockedConv {
        conv: Conv {
            kernel: vec![1, 1],
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
        },
        block: 2,
    };
    let yb = node(&mut g, "blocked_conv", Op::BlockedConv(bconv), &[xb, bw]);
    outs.push(node(
        &mut g,
        "from_blocked",
        Op::FromBlocked(blocking),
        &[yb],
    ));
    let ct = crate::ops::ConvTranspose {
        kernel: vec![3, 2],
        strides: vec![2, 1],
        pads: vec![1, 0, -1, 0],
        dilations: vec![1, 2],
        output_padding: vec![1, 0],
        group: 2,
    };
    let ctw = g.add_const("ctw", Tensor::from_f32(vec![4, 3, 3, 2], &[0.5; 72]));
    outs.push(node(
        &mut g,
        "conv_transpose",
        Op::ConvTranspose(ct),
        &[x, ctw],
    ));
    let qx = g.add_input("qx", TensorType::new(DType::U8, &[1, 2, 3, 3]));
    let qw = g.add_const(
        "qw",
        Tensor::from_f64_as(DType::I8, vec![2, 2, 2, 2], &[-3.0; 16]),
    );
    let qb = g.add_const("qb", Tensor::from_f64_as(DType::I32, vec![2], &[7.0, -9.0]));
    let qconv = crate::ops::QConv {
        conv: Conv {
            kernel: vec![2, 2],
            strides: vec![1, 1],
            pads: vec![1, 0, 0, 1],
            dilations: vec![1, 1],
            group: 1,
        },
        x_zero: 128,
        out: DType::U8,
        y_zero: 3,
        y_min: 3,
        y_max: 255,
        res_zero: 5,
        res_scale: 0.375,
    };
    let qs = g.add_const("qs", Tensor::from_f32(vec![2], &[0.5, 0.25]));
    let qr = g.add_input("qr", TensorType::new(DType::U8, &[1, 2, 3, 3]));
    outs.push(node(
        &mut g,
        "qconv",
        Op::QConv(qconv),
        &[qx, qw, qb, qs, qr],
    ));
    let grid = g.add_const("grid", Tensor::from_f32(vec![1, 3, 5, 2], &[0.25; 30]));
    let gs = crate::ops::GridSample {
        mode: crate::ops::GridMode::Cubic,
        padding: crate::ops::GridPadding::Reflection,
        align_corners: true,
    };
    outs.push(node(&mut g, "grid_sample", Op::GridSample(gs), &[x, grid]));
    let topk = crate::ops::TopK {
        axis: 3,
        k: 3,
        largest: false,
    };
    let tk = g
        .add_node_unfolded(
            "topk",
            Op::TopK(topk),
            vec![Some(x)],
            vec!["topk.values".into(), "topk.indices".into()],
        )
        .unwrap();
    outs.extend(tk);
    let dq = g
        .add_node_unfolded(
            "dynamic_quantize",
            Op::DynamicQuantize,
            vec![Some(x)],
            vec!["dq.y".into(), "dq.scale".into(), "dq.zero".into()],
        )
        .unwrap();
    outs.extend(dq);
    let nd_idx = g.add_const("nd_idx", Tensor::from_i64(vec![1, 2, 2], &[0, 1, 0, -1]));
    let gnd = crate::ops::GatherNd { batch_dims: 1 };
    outs.push(node(&mut g, "gather_nd", Op::GatherNd(gnd), &[x, nd_idx]));
    let snd_idx = g.add_const("snd_idx", Tensor::from_i64(vec![2, 2], &[0, 3, 0, -1]));
    let snd_upd = g.add_const("snd_upd", Tensor::from_f32(vec![2, 8, 8], &[2.0; 128]));
    let snd = crate::ops::ScatterNd {
        reduction: crate::ops::ScatterReduction::Mul,
    };
    outs.push(node(
        &mut g,
        "scatter_nd",
        Op::ScatterNd(snd),
        &[x, snd_idx, snd_upd],
    ));
    let se_upd = g.add_const("se_upd", Tensor::from_f32(vec![1, 4, 2, 8], &[3.0; 64]));
    let se = crate::ops::ScatterElements {
        axis: 2,
        reduction: crate::ops::ScatterReduction::Max,
    };
    outs.push(node(
        &mut g,
        "scatter_elements",
        Op::ScatterElements(se),
        &[x, ge_idx, se_upd],
    ));
    use crate::ops::resize::{CoordMode, NearestMode, ResizeMode};
    for (i, (mode, coord)) in [
        (ResizeMode::Linear, CoordMode::HalfPixel),
        (
            ResizeMode::Nearest(NearestMode::Floor),
            CoordMode::Asymmetric,
        ),
        (ResizeMode::Cubic { a: -0.5 }, CoordMode::TfCropAndResize),
    ]
    .into_iter()
    .enumerate()
    {
        let roi = if coord == CoordMode::TfCropAndResize {
            vec![0.0, 0.0, 0.1, 0.2, 1.0, 1.0, 0.9, 0.8]
        } else {
            vec![]
        };
        let r = crate::ops::Resize {
            sizes: vec![1, 4, 16, 12],
            scales: vec![1.0, 1.0, 2.0, 1.5],
            roi,
            mode,
            coord,
            antialias: i == 0,
            exclude_outside: i == 2,
            extrapolation: 0.5,
        };
        outs.push(node(&mut g, &format!("resize{i}"), Op::Resize(r), &[x]));
    }
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
