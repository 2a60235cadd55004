//! Op mapping checks on one-node models: opset-specific forms, desugarings (checked
//! through constant folding), and the errors of refused attribute values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::models::{out_f32, out_shape, run, with};
use common::onnx::*;

#[test]
fn slice_with_inputs_negative_steps_and_clamping() {
    let x = floats("x", &[2, 5], &[0., 1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    let g = run(
        13,
        &[],
        vec![
            x,
            ints("starts", &[-1]),
            ints("ends", &[i64::MIN]),
            ints("axes", &[-1]),
            ints("steps", &[-2]),
        ],
        vec![node(
            "Slice",
            "s",
            &["x", "starts", "ends", "axes", "steps"],
            &["y"],
        )],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![4., 2., 0., 9., 7., 5.]);

    // Opset 9: attributes, ends past the dim clamp.
    let x = floats("x", &[2, 5], &[0., 1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    let g = run(
        9,
        &[],
        vec![x],
        vec![with(
            node("Slice", "s", &["x"], &["y"]),
            vec![
                attr_ints("starts", &[1, 3]),
                attr_ints("ends", &[1000, 1000]),
            ],
        )],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![8., 9.]);
}

#[test]
fn split_gives_one_slice_per_output() {
    let x = floats("x", &[5], &[0., 1., 2., 3., 4.]);
    let g = run(
        13,
        &[],
        vec![x, ints("split", &[2, 3])],
        vec![node("Split", "sp", &["x", "split"], &["a", "b"])],
        &["a", "b"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![0., 1.]);
    assert_eq!(out_f32(&g, 1), vec![2., 3., 4.]);

    // Opset 18 num_outputs with an uneven last part.
    let x = floats("x", &[5], &[0., 1., 2., 3., 4.]);
    let g = run(
        18,
        &[],
        vec![x],
        vec![with(
            node("Split", "sp", &["x"], &["a", "b"]),
            vec![attr_i("num_outputs", 2)],
        )],
        &["a", "b"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 1), vec![3., 4.]);
}

#[test]
fn squeeze_unsqueeze_across_opsets() {
    let g = run(
        13,
        &[("x", &["1", "3", "1", "2"])],
        vec![],
        vec![node("Squeeze", "sq", &["x"], &["y"])],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[3,2]");

    let g = run(
        11,
        &[("x", &["3", "2"])],
        vec![],
        vec![with(
            node("Unsqueeze", "u", &["x"], &["y"]),
            vec![attr_ints("axes", &[0, -1])],
        )],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[1,3,2,1]");

    let e = run(
        13,
        &[("x", &["1", "3"])],
        vec![ints("axes", &[1])],
        vec![node("Squeeze", "sq", &["x", "axes"], &["y"])],
        &["y"],
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot squeeze axis 1"), "{e}");
}

#[test]
fn variadic_ops_chain() {
    let a = floats("a", &[2], &[1., 2.]);
    let b = floats("b", &[2], &[3., 6.]);
    let c = floats("c", &[1], &[5.]);
    let g = run(
        13,
        &[],
        vec![a, b, c],
        vec![
            node("Mean", "m", &["a", "b", "c"], &["mean"]),
            node("Max", "x", &["a", "b", "c"], &["max"]),
            node("Sum", "s", &["a"], &["sum"]),
        ],
        &["mean", "max", "sum"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![3., 13. / 3.]);
    assert_eq!(out_f32(&g, 1), vec![5., 6.]);
    assert_eq!(out_f32(&g, 2), vec![1., 2.]);
}

#[test]
fn desugared_activations_compute_the_spec() {
    let x = floats("x", &[3], &[-2., 0.5, 3.]);
    let slope = floats("slope", &[1], &[0.25]);
    let g = run(
        20,
        &[],
        vec![x, slope],
        vec![
            node("PRelu", "p", &["x", "slope"], &["prelu"]),
            node("Gelu", "g", &["x"], &["gelu"]),
            node("Selu", "s", &["x"], &["selu"]),
        ],
        &["prelu", "gelu", "selu"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![-0.5, 0.5, 3.]);
    let gelu = |x: f64| 0.5 * x * (1.0 + libm_erf(x / 2f64.sqrt()));
    for (got, x) in out_f32(&g, 1).iter().zip([-2., 0.5, 3.]) {
        assert!(
            (f64::from(*got) - gelu(x)).abs() < 1e-5,
            "{got} vs {}",
            gelu(x)
        );
    }
    let selu = out_f32(&g, 2);
    assert!((selu[0] - 1.050_701 * 1.673_263_2 * ((-2f32).exp() - 1.0)).abs() < 1e-5);
    assert!((selu[2] - 1.050_701 * 3.0).abs() < 1e-5);
}

/// erf by its series (enough for |x| < 3).
fn libm_erf(x: f64) -> f64 {
    let mut sum = x;
    let mut term = x;
    for n in 1..80 {
        term *= -x * x / f64::from(n);
        sum += term / f64::from(2 * n + 1);
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn constants_of_every_form() {
    let g = run(
        13,
        &[],
        vec![ints("shape", &[2, 2])],
        vec![
            with(
                node("Constant", "c1", &[], &["fs"]),
                vec![attr_floats("value_floats", &[1.5, 2.5])],
            ),
            with(
                node("Constant", "c2", &[], &["i"]),
                vec![attr_i("value_int", 7)],
            ),
            with(
                node("Constant", "c3", &[], &["t"]),
                vec![attr_t("value", floats("", &[1, 2], &[3., 4.]))],
            ),
            with(
                node("ConstantOfShape", "c4", &["shape"], &["fill"]),
                vec![attr_t("value", floats("", &[1], &[0.5]))],
            ),
        ],
        &["fs", "i", "t", "fill"],
    )
    .unwrap();
    assert_eq!(out_f32(&g, 0), vec![1.5, 2.5]);
    assert_eq!(out_shape(&g, 1), "i64[]");
    assert_eq!(out_shape(&g, 2), "f32[1,2]");
    assert_eq!(out_f32(&g, 3), vec![0.5; 4]);
}

#[test]
fn conv_auto_pad_and_kernel_from_weight() {
    let w = floats("w", &[4, 3, 3, 3], &[0.1; 108]);
    let g = run(
        11,
        &[("x", &["1", "3", "10", "7"])],
        vec![w],
        vec![with(
            node("Conv", "c", &["x", "w"], &["y"]),
            vec![
                attr_s("auto_pad", "SAME_LOWER"),
                attr_ints("strides", &[2, 2]),
            ],
        )],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[1,4,5,4]");
}

#[test]
fn shape_start_end_and_legacy_log_softmax() {
    let g = run(
        15,
        &[("x", &["2", "3", "4"])],
        vec![],
        vec![with(
            node("Shape", "s", &["x"], &["y"]),
            vec![attr_i("start", -2)],
        )],
        &["y"],
    )
    .unwrap();
    assert_eq!(
        g.const_value(g.outputs()[0]).unwrap().to_i64_vec(),
        vec![3, 4]
    );

    let g = run(
        11,
        &[("x", &["2", "3", "4"])],
        vec![],
        vec![with(
            node("LogSoftmax", "ls", &["x"], &["y"]),
            vec![attr_i("axis", 0)],
        )],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[2,3,4]");
    assert_eq!(g.node_count(), 3);
}

#[test]
fn refused_attribute_values_say_why() {
    let bn_inits = || {
        ["s", "b", "m", "v"]
            .iter()
            .map(|n| floats(n, &[3], &[1., 1., 1.]))
            .collect::<Vec<_>>()
    };
    let bn = |attr| {
        with(
            node(
                "BatchNormalization",
                "bn",
                &["x", "s", "b", "m", "v"],
                &["y"],
            ),
            vec![attr],
        )
    };
    let nchw: &[(&str, &[&str])] = &[("x", &["1", "3", "2", "2"])];
    // (opset, graph inputs, initializers, the node, a part of the error)
    let cases = [
        (
            7,
            nchw,
            bn_inits(),
            bn(attr_i("spatial", 0)),
            "t.onnx: node \"bn\" (BatchNormalization): invalid attribute: spatial=0",
        ),
        (
            15,
            nchw,
            bn_inits(),
            bn(attr_i("training_mode", 2)),
            "attribute \"training_mode\" must be 0 or 1, got 2",
        ),
        (
            13,
            &[("x", &["3"][..]), ("lo", &[])][..],
            vec![],
            node("Clip", "clip", &["x", "lo"], &["y"]),
            "min (input 1) must be a constant",
        ),
        (
            13,
            &[("x", &["3"][..])][..],
            vec![],
            with(
                node("LeakyRelu", "lr", &["x"], &["y"]),
                vec![attr_i("alpha", 1)],
            ),
            "attribute \"alpha\" must be a float",
        ),
    ];
    for (opset, inputs, inits, n, want) in cases {
        let e = run(opset, inputs, inits, vec![n], &["y"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.onnx: node ") && e.contains(want), "{e}");
    }
}

#[test]
fn maxpool_indices_are_built_when_declared() {
    let mp = |outs: &[&str]| {
        with(
            node("MaxPool", "mp", &["x"], outs),
            vec![attr_ints("kernel_shape", &[2, 2])],
        )
    };
    let g = run(
        12,
        &[("x", &["1", "1", "4", "4"])],
        vec![],
        vec![mp(&["y", "idx"])],
        &["y", "idx"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[1,1,3,3]");
    assert_eq!(out_shape(&g, 1), "i64[1,1,3,3]");
    let e = run(
        12,
        &[("x", &["1", "1", "4", "4"])],
        vec![],
        vec![with(
            node("MaxPool", "mp", &["x"], &["y", "idx"]),
            vec![
                attr_ints("kernel_shape", &[2, 2]),
                attr_i("storage_order", 2),
            ],
        )],
        &["y", "idx"],
    )
    .unwrap_err();
    assert!(e.to_string().contains("storage_order"), "{e}");
}

#[test]
fn windows_and_mel_filters_are_import_time_constants() {
    let window = |op: &str, size: i64, periodic: i64| {
        let n = with(
            node(op, "w", &["size"], &["y"]),
            vec![attr_i("periodic", periodic)],
        );
        run(17, &[], vec![ints("size", &[size])], vec![n], &["y"]).unwrap()
    };
    let hann = out_f32(&window("HannWindow", 4, 1), 0);
    let want = [0.0, 0.5, 1.0, 0.5];
    assert!(
        hann.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
        "{hann:?}"
    );
    // A one-sample symmetric window is its limit, not 0/0.
    assert_eq!(out_f32(&window("BlackmanWindow", 1, 0), 0), [1.0]);
    let e = run(
        17,
        &[],
        vec![ints("size", &[0])],
        vec![node("HammingWindow", "w", &["size"], &["y"])],
        &["y"],
    )
    .unwrap_err();
    assert!(e.to_string().contains("size must be positive"), "{e}");

    // Band edges past the Nyquist frequency fall outside the spectrum: an error.
    let mel = |upper: f32| {
        let inits = vec![
            ints("bins", &[8]),
            ints("dft", &[16]),
            ints("rate", &[8192]),
            floats("lo", &[], &[0.0]),
            floats("hi", &[], &[upper]),
        ];
        let n = node(
            "MelWeightMatrix",
            "mel",
            &["bins", "dft", "rate", "lo", "hi"],
            &["y"],
        );
        run(17, &[], inits, vec![n], &["y"])
    };
    assert_eq!(out_shape(&mel(4096.0).unwrap(), 0), "f32[9,8]");
    let e = mel(8192.0).unwrap_err();
    assert!(e.to_string().contains("outside 0..9"), "{e}");
}

#[test]
fn stft_frames_the_signal() {
    let g = run(
        17,
        &[("x", &["1", "128", "1"])],
        vec![ints("step", &[8]), ints("len", &[16])],
        vec![node("STFT", "stft", &["x", "step", "", "len"], &["y"])],
        &["y"],
    )
    .unwrap();
    assert_eq!(out_shape(&g, 0), "f32[1,15,9,2]");
    let e = run(
        17,
        &[("x", &["1", "8", "1"])],
        vec![ints("step", &[8]), ints("len", &[16])],
        vec![node("STFT", "stft", &["x", "step", "", "len"], &["y"])],
        &["y"],
    )
    .unwrap_err();
    assert!(e.to_string().contains("frame_length 16 in 1..=8"), "{e}");
}
