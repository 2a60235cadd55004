//! onnxruntime's com.microsoft quantized contrib operators (`testmodels/quant/`,
//! `generate.py --contrib`): the hand-built `qop_contrib` case (every op, u8 and i8)
//! and the digits CNN through `quantize_static(QOperator)` with the default
//! `op_types_to_quantize` (`digits_qop_ms`: QLinearAdd, QLinearGlobalAveragePool,
//! QGemm), compiled and run against onnxruntime's outputs. Integer outputs within one
//! quantum (the ops are float computations with one rounding in both), float outputs
//! of the integer products within float rounding. Figures are printed
//! (`cargo test -- --nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use neoc_driver::{compile_file, CompileOptions};
use neoc_runtime::{DType, Model, TensorRef};
use std::path::Path;

mod common;
use common::{
    case, compile, int8_and_float_anchors, int8_targets as targets, quant, read_npy, stored_inputs,
    tensor_refs, values,
};

/// Every convolution and matrix product of the contrib-op models runs on the int8
/// kernels: QGemm (u8, i8 and float output), DynamicQuantizeMatMul and
/// MatMulIntegerToFloat in `qop_contrib`, except the two exact int32 fallbacks (QGemm
/// with `transA`, MatMulIntegerToFloat with u8 weights and a zero point); the three
/// QLinearConvs and the QGemm of `digits_qop_ms` (no float Conv or Gemm left).
#[test]
fn contrib_products_become_int8_kernels() {
    for (name, want) in [("qop_contrib", (5, 2)), ("digits_qop_ms", (4, 0))] {
        let got = int8_and_float_anchors(&quant().join(name).join("model.onnx"));
        println!("{name}: {} int8, {} float anchors", got.0, got.1);
        assert_eq!(got, want, "{name}: (int8, float) anchors");
    }
}

/// QLinearAdd after the residual QLinearConv of the digits CNN is folded into that
/// QConv (its residual input), as for ResNet.
#[test]
fn qlinear_add_after_qlinear_conv_is_the_residual_fold() {
    let mut g = neoc_driver::import(&quant().join("digits_qop_ms/model.onnx"), &[], &[]).unwrap();
    neoc_driver::optimize(&mut g, "model.onnx", &CompileOptions::default()).unwrap();
    let residual = g
        .topo_order()
        .into_iter()
        .filter(|&n| match &g.node(n).op {
            neoc_ir::Op::QConv(_) => g.node(n).inputs.get(4).copied().flatten().is_some(),
            _ => false,
        })
        .count();
    assert_eq!(residual, 1, "QConvs with a residual input");
}

/// A standard MaxPool of a u8 tensor (how QOperator models keep it; the importer reads
/// it as `Cast<u8>(MaxPool(Cast<f32>(x)))`) pools the u8 tensor itself.
#[test]
fn u8_max_pool_runs_on_u8() {
    let mut g = neoc_driver::import(&quant().join("qop_contrib/model.onnx"), &[], &[]).unwrap();
    neoc_driver::optimize(&mut g, "model.onnx", &CompileOptions::default()).unwrap();
    let pools: Vec<neoc_ir::DType> = g
        .topo_order()
        .into_iter()
        .filter(|&n| {
            matches!(&g.node(n).op, neoc_ir::Op::Pool(p) if p.kind == neoc_ir::ops::PoolKind::Max)
        })
        .map(|n| g.value(g.node(n).inputs[0].unwrap()).ty.dtype)
        .collect();
    assert_eq!(pools, [neoc_ir::DType::U8], "the MaxPool's input types");
}

/// Every output of `qop_contrib` against onnxruntime: u8/i8 outputs within one
/// quantum (the u8 MaxPool exactly), float outputs (QGemm without y_scale, DynamicQuantizeMatMul,
/// MatMulIntegerToFloat: exact int32 products times the same f32 scale, plus a float
/// bias) within 1e-5 of the output's largest magnitude.
#[test]
fn contrib_ops_match_onnxruntime() {
    let dir = quant().join("qop_contrib");
    for target in targets() {
        let model = compile(&dir, target);
        let inputs = stored_inputs(&model, &dir);
        let outputs = model.run(&tensor_refs(&inputs)).unwrap();
        for (spec, got) in model.outputs().iter().zip(&outputs) {
            let want = read_npy(&dir.join("expected").join(format!("{}.npy", spec.name)));
            assert_eq!(got.dtype(), want.dtype, "{}", spec.name);
            assert_eq!(got.shape(), &want.shape[..], "{}", spec.name);
            let (g, w) = (values(got.dtype(), got.as_bytes()), want.values());
            let diff = g
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            let peak = w.iter().map(|v| v.abs()).fold(0.0, f64::max);
            let off = g.iter().zip(&w).filter(|(a, b)| a != b).count();
            println!(
                "qop_contrib/{} [{target}]: max diff {diff:.3e}, {off} of {} differ",
                spec.name,
                w.len()
            );
            let allowed = if got.dtype() == DType::F32 {
                1e-5 * peak
            } else if spec.name == "maxpool_u8" {
                0.0
            } else {
                1.0
            };
            assert!(diff <= allowed, "{} [{target}]: max diff {diff}", spec.name);
        }
    }
}

/// Refused forms fail with an error naming the node and the operator.
#[test]
fn unsupported_contrib_forms_are_clear_errors() {
    for (file, node, words) in [
        ("bad_channels_last.onnx", "gap_nhwc", "channels_last"),
        ("bad_scale.onnx", "add_per_channel", "per tensor"),
    ] {
        let path = quant().join("qop_contrib").join(file);
        let err = match compile_file(&path, &CompileOptions::default()) {
            Ok(_) => panic!("{file}: compiled"),
            Err(e) => format!("{e:#}"),
        };
        println!("{file}: {err}");
        for w in [node, words] {
            assert!(err.contains(w), "{file}: `{w}` not in: {err}");
        }
    }
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The digits CNN quantized with the default QOperator op types: test-set accuracy
/// within half a point of onnxruntime's on the same model and of the float model's,
/// logits cosine ≥ 0.99 per image.
#[test]
fn digits_qop_ms_accuracy() {
    let dir = quant().join("digits_qop_ms");
    let meta = case(&dir);
    let (ort, float) = (
        meta["test_accuracy"].as_f64().unwrap(),
        meta["float_test_accuracy"].as_f64().unwrap(),
    );
    let want = read_npy(&dir.join("expected").join("test_logits.npy")).values();
    let test = quant().join("digits").join("test");
    let x = read_npy(&test.join("x.npy"));
    let y = read_npy(&test.join("y.npy")).values();
    for target in targets() {
        let model = compile(&dir, target);
        let mut ctx = model.new_context_with_threads(1).unwrap();
        let (mut right, mut logits) = (0, Vec::new());
        for (i, label) in y.iter().enumerate() {
            let px = &x.data[i * 256..(i + 1) * 256];
            let out = ctx
                .run(&model, &[TensorRef::new(DType::F32, &[1, 1, 8, 8], px)])
                .unwrap();
            let l = values(out[0].dtype(), out[0].as_bytes());
            right += usize::from(argmax(&l) as f64 == *label);
            logits.extend(l);
        }
        let acc = right as f64 / y.len() as f64;
        let pairs = || logits.chunks(10).zip(want.chunks(10));
        let worst = pairs().map(|(a, b)| cosine(a, b)).fold(1.0, f64::min);
        let agree = pairs().filter(|(a, b)| argmax(a) == argmax(b)).count();
        println!(
            "digits_qop_ms [{target}]: accuracy {acc:.4} (onnxruntime {ort:.4}, float \
             {float:.4}), top-1 agrees with onnxruntime on {agree} of {}, worst logits \
             cosine {worst:.5}",
            y.len()
        );
        assert!((acc - ort).abs() <= 0.005, "[{target}]: {acc} vs {ort}");
        assert!(float - acc <= 0.005, "[{target}]: {acc} vs float {float}");
        assert!(worst >= 0.99, "[{target}]: cosine {worst}");
    }
}

/// ResNet-50 through `quantize_static(QOperator)` with the default op types
/// (`generate.py --large`: 53 QLinearConv, 16 QLinearAdd, QLinearGlobalAveragePool,
/// QGemm), when present. Every convolution and the QGemm run on the int8 kernels.
/// Without the `int8-qdq` folds (each contrib op as imported) the logits are identical
/// to onnxruntime's; with them (the default) the residual fold drops the rounding of
/// each block's last convolution output, so a few logits move (by at most two quanta
/// of the QGemm's output here): cosine ≥ 0.999 to onnxruntime's int8 run and ≥ 0.99 to
/// the float model, and onnxruntime's top-1 class within one quantum of the maximum.
#[test]
fn large_resnet50_qop_ms_when_present() {
    let dir = quant().join("large/resnet50_int8_qop_ms");
    if !dir.join("model.onnx").exists() {
        println!(
            "testmodels/quant/large/resnet50_int8_qop_ms is absent (generate.py --large); \
             skipping"
        );
        return;
    }
    let model_path = dir.join("model.onnx");
    let anchors = int8_and_float_anchors(&model_path);
    println!(
        "resnet50_int8_qop_ms: {} int8, {} float anchors",
        anchors.0, anchors.1
    );
    assert_eq!(anchors, (54, 0));
    let ort = read_npy(&dir.join("expected").join("output.npy")).values();
    let float = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testmodels/large/resnet50");
    let fl = read_npy(&float.join("expected").join("output.npy")).values();
    // The logits are the QGemm's u8 output dequantized: one quantum is the smallest
    // gap between onnxruntime's distinct values.
    let mut levels = ort.clone();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let quantum = levels
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let target = *targets().last().unwrap();
    for fold in [false, true] {
        let opts = CompileOptions {
            target: target.into(),
            disabled_passes: if fold {
                vec![]
            } else {
                vec!["int8-qdq".into()]
            },
            ..CompileOptions::default()
        };
        let (artifact, _) = compile_file(&model_path, &opts).unwrap();
        let model = Model::from_bytes(artifact.to_bytes()).unwrap();
        let inputs = stored_inputs(&model, &dir);
        let out = model.run(&tensor_refs(&inputs)).unwrap();
        let got = values(out[0].dtype(), out[0].as_bytes());
        let (c_ort, c_float) = (cosine(&got, &ort), cosine(&got, &fl));
        let quanta: Vec<i64> = got
            .iter()
            .zip(&ort)
            .map(|(a, b)| ((a - b) / quantum).round() as i64)
            .collect();
        let off = quanta.iter().filter(|&&q| q != 0).count();
        let worst = quanta.iter().map(|q| q.abs()).max().unwrap_or(0);
        let best = got.iter().copied().fold(f64::MIN, f64::max);
        let ort_top = argmax(&ort);
        println!(
            "resnet50_int8_qop_ms [{target}, int8-qdq folds {fold}]: cosine {c_ort:.5} to \
             onnxruntime int8, {c_float:.5} to float; {off} of {} logits differ from \
             onnxruntime's, by at most {worst} quanta ({quantum:.3}); onnxruntime's top-1 \
             class {ort_top} scores {:.3}, the maximum is {best:.3}",
            got.len(),
            got[ort_top]
        );
        if !fold {
            assert_eq!(off, 0, "without the folds");
        }
        assert!(c_ort >= 0.999 && c_float >= 0.99);
        assert!(best - got[ort_top] <= quantum * 1.0001);
    }
}
