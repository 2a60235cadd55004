#!/usr/bin/env python3
"""Quantized test models and their onnxruntime references (the INT8 issue).

    testmodels/.venv-quant/bin/python testmodels/quant/generate.py          # committed cases
    testmodels/.venv-quant/bin/python testmodels/quant/generate.py --large  # resnet50 int8 (not committed)
    testmodels/.venv-quant/bin/python testmodels/quant/generate.py --dynamic  # only *_dyn
    testmodels/.venv-quant/bin/python testmodels/quant/generate.py --contrib  # only the contrib-op cases
    testmodels/.venv-quant/bin/python testmodels/quant/generate.py --large-contrib  # only resnet50_int8_qop_ms

Writes, under testmodels/quant/ (committed) and testmodels/quant/large/ (``--large``,
git-ignored):

    <case>/model.onnx, <case>/inputs/<input>.npy, <case>/expected/<output>.npy, <case>/case.json

like testmodels/models/<name>/ (the driver tests read both the same way), plus for the
digits CNN:

    digits/calibration/*.npy     calibration samples (float32 [32,1,8,8] each: the issue's
                                 "a file whose first axis is larger than the batch is split")
    digits/test/x.npy, y.npy     the held-out test set (360 images, int64 labels)
    digits*/expected/test_logits.npy   onnxruntime logits of every test image (batch 1 each)

Cases:
- ``digits``: a small CNN (conv 3x3 x3 with a residual Add, global pooling, linear)
  trained with torch on scikit-learn's 8x8 digits until the training loss stops
  improving; exported to ONNX (opset 13, batch 1). case.json records the float test accuracy.
- ``digits_qdq`` / ``digits_qop``: the same model quantized by
  ``onnxruntime.quantization.quantize_static`` (u8 activations, per-channel i8 weights,
  MinMax calibration on digits/calibration) in QDQ and in QOperator (QLinearConv...) form.
- ``qop_ops``: hand-built QLinearConv (strided, padded, per-channel), QLinearMatMul,
  ConvInteger and MatMulInteger (int32 outputs: neoc must match exactly).
- ``mobilenet_v2_qdq``: testmodels/models/mobilenet_v2 quantized in QDQ form
  (calibration: 8 seeded N(0,1) images).
- ``bert_dyn``, ``mlp_dyn``, ``conv_dyn``: ``quantize_dynamic`` (DynamicQuantizeLinear ->
  MatMulInteger / ConvInteger -> Cast -> Mul -> Add, i8 weights) of
  testmodels/models/bert_encoder (per-channel), testmodels/models/mlp (per tensor) and a
  small seeded CNN. onnxruntime has no ConvInteger kernel for i8 weights, so
  ``conv_dyn``'s reference comes from onnxruntime running the same model with every
  ConvInteger written as its definition, ``Cast<int32>(Conv(Cast<f32>(x) - zx, w))``
  (exact in f32: every partial sum is an integer below 2^24).
- ``qop_contrib``: hand-built com.microsoft quantized ops (QLinearAdd, QLinearMul,
  QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat, QLinearSigmoid,
  QLinearLeakyRelu, QLinearSoftmax, QGemm, DynamicQuantizeMatMul, MatMulIntegerToFloat),
  u8 and i8 where onnxruntime has both, plus two models neoc must refuse
  (``bad_*.onnx``: channels_last=1, a per-channel QLinearAdd scale).
- ``digits_qop_ms``: the digits CNN through quantize_static(QOperator) with the default
  op_types_to_quantize, so QLinearAdd, QLinearGlobalAveragePool and QGemm appear.
- ``--large``: ``resnet50_int8_qdq``, ``resnet50_int8_qop`` (Conv and MatMul only) and
  ``resnet50_int8_qop_ms`` (default op types: contrib ops) from testmodels/large/resnet50
  (run testmodels/gen/generate.py --large first), into testmodels/quant/large/.

References: onnxruntime CPU provider, one thread, graph optimizations disabled, like
testmodels/gen. Everything is seeded.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

HERE = Path(__file__).resolve().parent  # testmodels/quant
ROOT = HERE.parent  # testmodels
LARGE = ROOT / "large"  # the float resnet50 (testmodels/gen/generate.py --large)
QUANT_LARGE = HERE / "large"  # the int8 ones written here (git-ignored)
FRAMEWORK = f"onnxruntime {ort.__version__}"


def save_npy(path: Path, arr: np.ndarray) -> None:
    arr = np.ascontiguousarray(np.asarray(arr)) if np.asarray(arr).ndim else np.asarray(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=(1, 0), allow_pickle=False)


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def write_case(
    out: Path, model_path: Path, inputs: dict, description: str, extra=None, reference=None
) -> None:
    """Runs onnxruntime on `inputs` and writes inputs/, expected/ and case.json; the
    outputs come from `reference` (an equivalent model onnxruntime can run) if given."""
    sess = session(reference or model_path)
    outs = sess.run(None, inputs)
    for name, arr in inputs.items():
        save_npy(out / "inputs" / f"{name}.npy", arr)
    for o, arr in zip(sess.get_outputs(), outs):
        save_npy(out / "expected" / f"{o.name}.npy", arr)
    case = {"description": description, "framework": FRAMEWORK, "opset": opset_of(model_path)}
    case.update(extra or {})
    (out / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    ops: dict[str, int] = {}
    for n in onnx.load(str(model_path)).graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    (out / "ops.txt").write_text("".join(f"{k} {v}\n" for k, v in sorted(ops.items())))


def opset_of(path: Path) -> int:
    m = onnx.load(str(path))
    return max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))


class NpyReader(CalibrationDataReader):
    """Feeds calibration samples (batch 1 each) to quantize_static."""

    def __init__(self, name: str, samples: np.ndarray):
        self.items = iter([{name: s[None].astype(np.float32)} for s in samples])

    def get_next(self):
        return next(self.items, None)


def quantize(
    src: Path, dst: Path, samples: np.ndarray, fmt: QuantFormat, act=QuantType.QUInt8
) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(src),
        str(dst),
        NpyReader(session(src).get_inputs()[0].name, samples),
        quant_format=fmt,
        per_channel=True,
        activation_type=act,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        # QOperator form: only the standard-domain operators (QLinearConv,
        # QLinearMatMul); Add/Gemm/pooling would become com.microsoft contrib ops.
        op_types_to_quantize=["Conv", "MatMul"] if fmt == QuantFormat.QOperator else None,
    )


# --------------------------------------------------------------------------
# digits CNN
# --------------------------------------------------------------------------


def digits() -> None:
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 16, 3, padding=1)
            self.c2 = torch.nn.Conv2d(16, 32, 3, padding=1, stride=2)
            self.c3 = torch.nn.Conv2d(32, 32, 3, padding=1)
            self.fc = torch.nn.Linear(32, 10)

        def forward(self, t):
            t = torch.relu(self.c1(t))
            t = torch.relu(self.c2(t))
            t = torch.relu(self.c3(t) + t)
            t = torch.nn.functional.adaptive_avg_pool2d(t, 1).flatten(1)
            return self.fc(t)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(1)
    for epoch in range(60):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        train_loss = float(torch.nn.functional.cross_entropy(net(xt), yt))
        acc = float((net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
    print(f"digits: train loss {train_loss:.4f}, float test accuracy {acc:.4f}")

    base = HERE / "digits"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    model = base / "model.onnx"
    torch.onnx.export(
        net,
        torch.from_numpy(xte[:1]),
        str(model),
        input_names=["input"],
        output_names=["output"],
        opset_version=13,
        dynamo=False,
    )
    save_npy(base / "test" / "x.npy", xte)
    save_npy(base / "test" / "y.npy", yte.astype(np.int64))
    calib = xtr[:128]
    for i in range(4):
        save_npy(base / "calibration" / f"part{i}.npy", calib[i * 32 : (i + 1) * 32])

    def finish(case: Path, what: str) -> None:
        sess = session(case / "model.onnx")
        logits = np.concatenate([sess.run(None, {"input": s[None]})[0] for s in xte])
        case_acc = float((logits.argmax(1) == yte).mean())
        save_npy(case / "expected" / "test_logits.npy", logits.astype(np.float32))
        write_case(
            case,
            case / "model.onnx",
            {"input": xte[:1]},
            what,
            {"test_accuracy": case_acc, "float_test_accuracy": acc, "train_loss": train_loss},
        )
        print(f"{case.name}: onnxruntime test accuracy {case_acc:.4f}")

    finish(base, "digits CNN (torch, trained on sklearn 8x8 digits), float")
    for fmt, name, act in (
        (QuantFormat.QDQ, "digits_qdq", QuantType.QUInt8),
        (QuantFormat.QOperator, "digits_qop", QuantType.QUInt8),
        (QuantFormat.QDQ, "digits_qdq_s8", QuantType.QInt8),
    ):
        case = HERE / name
        shutil.rmtree(case, ignore_errors=True)
        quantize(model, case / "model.onnx", calib, fmt, act)
        kind = "i8" if act == QuantType.QInt8 else "u8"
        finish(
            case,
            f"digits CNN quantized by quantize_static ({fmt.name}, {kind} activations, "
            "per-channel i8 weights, MinMax)",
        )


# --------------------------------------------------------------------------
# hand-built operator-form cases
# --------------------------------------------------------------------------


def qop_ops() -> None:
    rng = np.random.default_rng(20)
    U8, I8, I32, F = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, TensorProto.FLOAT

    def init(name, arr):
        return numpy_helper.from_array(np.asarray(arr), name)

    w = rng.integers(-127, 128, size=(24, 8, 3, 3), dtype=np.int8)
    w_scale = rng.uniform(0.002, 0.01, size=24).astype(np.float32)
    bias = rng.integers(-3000, 3000, size=24, dtype=np.int32)
    w2 = rng.integers(-127, 128, size=(25, 24), dtype=np.int8)
    w3 = rng.integers(0, 256, size=(16, 8, 1, 1), dtype=np.uint8)  # onnxruntime: u8 only
    inits = [
        init("x_scale", np.float32(0.05)), init("x_zp", np.uint8(121)),
        init("w", w), init("w_scale", w_scale), init("w_zp", np.zeros(24, np.int8)),
        init("y_scale", np.float32(0.7)), init("y_zp", np.uint8(100)), init("bias", bias),
        init("w2", w2), init("w2_scale", np.float32(0.004)), init("w2_zp", np.int8(0)),
        init("m_scale", np.float32(0.3)), init("m_zp", np.uint8(90)),
        init("w3", w3), init("w3_zp", np.uint8(128)),
        init("xs_scale", np.float32(0.04)), init("xs_zp", np.int8(-5)),
        init("s8_scale", np.float32(0.9)), init("s8_zp", np.int8(3)),
    ]
    nodes = [
        helper.make_node(
            "QLinearConv",
            ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "bias"],
            ["conv_q"], strides=[2, 2], pads=[1, 0, 1, 2], name="qconv",
        ),
        helper.make_node(
            "QLinearMatMul",
            ["a", "x_scale", "x_zp", "w2", "w2_scale", "w2_zp", "m_scale", "m_zp"],
            ["matmul_q"], name="qmatmul",
        ),
        helper.make_node("ConvInteger", ["x", "w3", "x_zp", "w3_zp"], ["conv_i32"], name="convint"),
        helper.make_node(
            "QLinearConv",
            ["xs", "xs_scale", "xs_zp", "w", "w_scale", "w_zp", "s8_scale", "s8_zp", "bias"],
            ["conv_s8"], strides=[1, 2], pads=[1, 1, 1, 1], name="qconv_s8",
        ),
        helper.make_node("MatMulInteger", ["a", "w2", "x_zp", "w2_zp"], ["matmul_i32"], name="mmint"),
    ]
    graph = helper.make_graph(
        nodes,
        "qop_ops",
        [
            helper.make_tensor_value_info("x", U8, [1, 8, 9, 10]),
            helper.make_tensor_value_info("a", U8, [2, 24, 25]),
            helper.make_tensor_value_info("xs", TensorProto.INT8, [1, 8, 9, 10]),
        ],
        [
            helper.make_tensor_value_info("conv_q", U8, [1, 24, 5, 5]),
            helper.make_tensor_value_info("matmul_q", U8, [2, 24, 24]),
            helper.make_tensor_value_info("conv_i32", I32, [1, 16, 9, 10]),
            helper.make_tensor_value_info("matmul_i32", I32, [2, 24, 24]),
            helper.make_tensor_value_info("conv_s8", TensorProto.INT8, [1, 24, 9, 5]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    case = HERE / "qop_ops"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    onnx.save(model, str(case / "model.onnx"))
    x = rng.integers(0, 256, size=(1, 8, 9, 10), dtype=np.uint8)
    a = rng.integers(0, 256, size=(2, 24, 25), dtype=np.uint8)
    xs = rng.integers(-128, 128, size=(1, 8, 9, 10), dtype=np.int8)
    write_case(
        case, case / "model.onnx", {"x": x, "a": a, "xs": xs},
        "QLinearConv (stride 2, asymmetric pads, per-channel, int32 bias), QLinearMatMul, "
        "ConvInteger, MatMulInteger, QLinearConv with i8 input and output",
    )
    print("qop_ops done")


def qop_pool() -> None:
    """u8 MaxPool in QDQ form (DQ -> MaxPool -> Q, same scale and zero point) feeding
    a QLinearConv on a 7x7 map with batch 2, and a one-row QLinearMatMul: the shapes
    that take the int8 GEMM's channels-in-lanes path (columns 98 and 1)."""
    rng = np.random.default_rng(21)
    U8 = TensorProto.UINT8

    def init(name, arr):
        return numpy_helper.from_array(np.asarray(arr), name)

    w = rng.integers(-127, 128, size=(64, 32, 3, 3), dtype=np.int8)
    w_scale = rng.uniform(0.001, 0.004, size=64).astype(np.float32)
    bias = rng.integers(-3000, 3000, size=64, dtype=np.int32)
    w2 = rng.integers(-127, 128, size=(96, 32), dtype=np.int8)
    inits = [
        init("x_scale", np.float32(0.05)), init("x_zp", np.uint8(17)),
        init("w", w), init("w_scale", w_scale), init("w_zp", np.zeros(64, np.int8)),
        init("y_scale", np.float32(0.6)), init("y_zp", np.uint8(110)), init("bias", bias),
        init("w2", w2), init("w2_scale", np.float32(0.004)), init("w2_zp", np.int8(0)),
        init("m_scale", np.float32(0.3)), init("m_zp", np.uint8(90)),
    ]
    # A wide 1x1 QLinearConv (128 channels x 2304 pixels: 1.2 MB of i32 accumulators,
    # past the int8 GEMM's per-column-tile threshold).
    w3 = rng.integers(-127, 128, size=(128, 16, 1, 1), dtype=np.int8)
    w3_scale = rng.uniform(0.002, 0.008, size=128).astype(np.float32)
    inits += [
        init("w3", w3), init("w3_scale", w3_scale), init("w3_zp", np.zeros(128, np.int8)),
        init("wide_scale", np.float32(0.5)), init("wide_zp", np.uint8(128)),
    ]
    nodes = [
        helper.make_node(
            "QLinearConv",
            ["xw", "x_scale", "x_zp", "w3", "w3_scale", "w3_zp", "wide_scale", "wide_zp"],
            ["wide"], name="qconv_wide",
        ),
        helper.make_node("DequantizeLinear", ["x", "x_scale", "x_zp"], ["x_f"], name="dq"),
        helper.make_node(
            "MaxPool", ["x_f"], ["pool_f"], kernel_shape=[3, 3], strides=[2, 2],
            pads=[1, 1, 1, 1], name="maxpool",
        ),
        helper.make_node("QuantizeLinear", ["pool_f", "x_scale", "x_zp"], ["pool"], name="q"),
        helper.make_node(
            "QLinearConv",
            ["pool", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "bias"],
            ["conv"], pads=[1, 1, 1, 1], name="qconv",
        ),
        helper.make_node(
            "QLinearMatMul",
            ["a", "x_scale", "x_zp", "w2", "w2_scale", "w2_zp", "m_scale", "m_zp"],
            ["matvec"], name="qmatvec",
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "qop_pool",
        [
            helper.make_tensor_value_info("x", U8, [2, 32, 14, 14]),
            helper.make_tensor_value_info("a", U8, [1, 96]),
            helper.make_tensor_value_info("xw", U8, [1, 16, 48, 48]),
        ],
        [
            helper.make_tensor_value_info("pool", U8, [2, 32, 7, 7]),
            helper.make_tensor_value_info("conv", U8, [2, 64, 7, 7]),
            helper.make_tensor_value_info("matvec", U8, [1, 32]),
            helper.make_tensor_value_info("wide", U8, [1, 128, 48, 48]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    case = HERE / "qop_pool"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    onnx.save(model, str(case / "model.onnx"))
    x = rng.integers(0, 256, size=(2, 32, 14, 14), dtype=np.uint8)
    a = rng.integers(0, 256, size=(1, 96), dtype=np.uint8)
    xw = rng.integers(0, 256, size=(1, 16, 48, 48), dtype=np.uint8)
    write_case(
        case, case / "model.onnx", {"x": x, "a": a, "xw": xw},
        "u8 MaxPool in QDQ form (3x3, stride 2, pads 1), QLinearConv on a 7x7 map with "
        "batch 2 (64 channels), one-row QLinearMatMul, wide 1x1 QLinearConv (128 x 48x48)",
    )
    print("qop_pool done")


# --------------------------------------------------------------------------
# seeded image models
# --------------------------------------------------------------------------


def image_model(src_case: Path, name: str, dst_root: Path, formats) -> None:
    src = src_case / "model.onnx"
    x = np.load(src_case / "inputs" / "input.npy")
    calib = np.random.default_rng(7).standard_normal((8,) + x.shape[1:]).astype(np.float32)
    for fmt, suffix in formats:
        case = dst_root / f"{name}_{suffix}"
        shutil.rmtree(case, ignore_errors=True)
        quantize(src, case / "model.onnx", calib, fmt)
        write_case(
            case, case / "model.onnx", {"input": x},
            f"{src_case.name} quantized by quantize_static ({fmt.name}, u8/i8 per-channel, "
            "MinMax on 8 seeded N(0,1) images)",
        )
        if dst_root == QUANT_LARGE:  # 4.8 MB: not committed
            save_npy(case / "calibration" / "samples.npy", calib)
        print(f"{case.name} done")


# --------------------------------------------------------------------------
# dynamically quantized models (quantize_dynamic)
# --------------------------------------------------------------------------


def conv_integer_as_float(src: Path, dst: Path) -> None:
    """`src` with every ConvInteger(x, w, zx, zw) written as its definition,
    Cast<int32>(Conv(Cast<f32>(x) - Cast<f32>(zx), w - zw)), for onnxruntime (which has
    no ConvInteger kernel for i8 weights). Exact: the products and every partial sum
    are integers below 2^24."""
    m = onnx.load(str(src))
    inits = {i.name: i for i in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        if n.op_type != "ConvInteger":
            nodes.append(n)
            continue
        x, w, zx, zw = (list(n.input) + ["", "", ""])[:4]
        wq = numpy_helper.to_array(inits[w]).astype(np.float32)
        if zw:
            wq = wq - numpy_helper.to_array(inits[zw]).astype(np.float32)
        wf = f"{n.name}/w_f"
        m.graph.initializer.append(numpy_helper.from_array(wq, wf))
        t = n.name
        nodes.append(helper.make_node("Cast", [x], [f"{t}/x_f"], to=TensorProto.FLOAT))
        xc = f"{t}/x_f"
        if zx:
            nodes.append(helper.make_node("Cast", [zx], [f"{t}/zx_f"], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Sub", [xc, f"{t}/zx_f"], [f"{t}/x_c"]))
            xc = f"{t}/x_c"
        conv = helper.make_node("Conv", [xc, wf], [f"{t}/conv"], name=f"{t}/conv")
        conv.attribute.extend(n.attribute)
        nodes.append(conv)
        nodes.append(helper.make_node("Cast", [f"{t}/conv"], list(n.output), to=TensorProto.INT32))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def dynamic_models() -> None:
    import tempfile

    import torch

    def dyn(src: Path, name: str, per_channel: bool) -> Path:
        case = HERE / name
        shutil.rmtree(case, ignore_errors=True)
        case.mkdir(parents=True)
        quantize_dynamic(
            str(src), str(case / "model.onnx"), per_channel=per_channel,
            weight_type=QuantType.QInt8,
        )
        return case

    for src, name, per_channel, what in (
        ("bert_encoder", "bert_dyn", True, "per-channel"),
        ("mlp", "mlp_dyn", False, "per-tensor"),
    ):
        base = ROOT / "models" / src
        case = dyn(base / "model.onnx", name, per_channel)
        inputs = {p.stem: np.load(p) for p in sorted((base / "inputs").glob("*.npy"))}
        write_case(
            case, case / "model.onnx", inputs,
            f"testmodels/models/{src} through quantize_dynamic (i8 weights, {what} scales, "
            "defaults otherwise)",
        )
        print(f"{name} done")

    torch.manual_seed(30)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.c2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
            self.c3 = torch.nn.Conv2d(32, 8, 1)

        def forward(self, t):
            return self.c3(torch.relu(self.c2(torch.relu(self.c1(t)))))

    x = np.random.default_rng(31).standard_normal((1, 3, 16, 16)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "conv.onnx"
        torch.onnx.export(
            Net().eval(), torch.from_numpy(x), str(src), input_names=["input"],
            output_names=["output"], opset_version=13, dynamo=False,
        )
        case = dyn(src, "conv_dyn", False)
        ref = Path(tmp) / "reference.onnx"
        conv_integer_as_float(case / "model.onnx", ref)
        write_case(
            case, case / "model.onnx", {"input": x},
            "seeded CNN (3x3 pad 1, 3x3 stride 2 pad 1, 1x1) through quantize_dynamic "
            "(ConvInteger with i8 weights); reference: onnxruntime on the same model with "
            "each ConvInteger as Cast<int32>(Conv(Cast<f32>(x) - zx, w)) (exact)",
            reference=ref,
        )
    print("conv_dyn done")


# --------------------------------------------------------------------------
# onnxruntime's com.microsoft contrib ops (QOperator with default op types)
# --------------------------------------------------------------------------


def quantize_qop_default(src: Path, dst: Path, samples: np.ndarray) -> None:
    """quantize_static in QOperator form with its *default* op_types_to_quantize: Add,
    Gemm, pooling, ... become com.microsoft contrib ops (QLinearAdd, QGemm, ...)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(src),
        str(dst),
        NpyReader(session(src).get_inputs()[0].name, samples),
        quant_format=QuantFormat.QOperator,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )


def digits_contrib() -> None:
    """digits/model.onnx through quantize_static(QOperator) with default op types."""
    base = HERE / "digits"
    calib = np.concatenate([np.load(base / "calibration" / f"part{i}.npy") for i in range(4)])
    xte, yte = np.load(base / "test" / "x.npy"), np.load(base / "test" / "y.npy")
    float_acc = json.loads((base / "case.json").read_text())["test_accuracy"]
    case = HERE / "digits_qop_ms"
    shutil.rmtree(case, ignore_errors=True)
    quantize_qop_default(base / "model.onnx", case / "model.onnx", calib)
    sess = session(case / "model.onnx")
    logits = np.concatenate([sess.run(None, {"input": s[None]})[0] for s in xte])
    acc = float((logits.argmax(1) == yte).mean())
    save_npy(case / "expected" / "test_logits.npy", logits.astype(np.float32))
    write_case(
        case, case / "model.onnx", {"input": xte[:1]},
        "digits CNN quantized by quantize_static (QOperator, default op_types_to_quantize: "
        "com.microsoft QLinearAdd, QLinearGlobalAveragePool, QGemm; u8 activations, "
        "per-channel i8 weights, MinMax)",
        {"test_accuracy": acc, "float_test_accuracy": float_acc},
    )
    print(f"digits_qop_ms: onnxruntime test accuracy {acc:.4f}")


def qop_contrib() -> None:
    """Hand-built com.microsoft quantized ops, one node per output, u8 and i8."""
    rng = np.random.default_rng(40)
    U8, I8, I32, F = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, TensorProto.FLOAT
    inits = []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def ms(op, ins, out, **attrs):
        return helper.make_node(op, ins, [out], name=out, domain="com.microsoft", **attrs)

    for n, v in (("sa", 0.05), ("sb", 0.031), ("sy", 0.07), ("sp", 0.02), ("ss", 1 / 256)):
        init(n, np.float32(v))
    for n, v in (("za", 120), ("zb", 97), ("zy", 131), ("z0", 0)):
        init(n, np.uint8(v))
    for n, v in (("ia", -7), ("ib", 12), ("iy", 3), ("i128", -128)):
        init(n, np.int8(v))
    gw = init("gw", rng.integers(-127, 128, size=(24, 48), dtype=np.int8))  # QGemm B [N, K] (transB)
    init("gw_scale", rng.uniform(0.002, 0.01, size=24).astype(np.float32))
    init("gw_zp", np.zeros(24, np.int8))
    init("gbias", rng.integers(-2000, 2000, size=24, dtype=np.int32))
    init("mw", rng.integers(-127, 128, size=(48, 16), dtype=np.int8))  # [K, N]
    init("mw_scale", np.float32(0.006))
    init("mw_zp", np.int8(0))
    init("mbias", rng.standard_normal(16).astype(np.float32))
    # (its own generator: the stream of `rng` above stays that of the earlier cases)
    init("mwu", np.random.default_rng(41).integers(0, 256, size=(48, 16), dtype=np.uint8))
    init("mwu_zp", np.uint8(131))
    nodes = [
        ms("QLinearAdd", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], "add_u8"),
        ms("QLinearAdd", ["s", "sa", "ia", "t", "sb", "ib", "sy", "iy"], "add_i8"),
        ms("QLinearMul", ["a", "sa", "za", "bc", "sb", "zb", "sy", "zy"], "mul_u8"),
        ms("QLinearMul", ["s", "sa", "ia", "t", "sb", "ib", "sy", "iy"], "mul_i8"),
        ms("QLinearGlobalAveragePool", ["a", "sa", "za", "sp", "zy"], "gap_u8", channels_last=0),
        ms("QLinearGlobalAveragePool", ["s", "sa", "ia", "sp", "iy"], "gap_i8", channels_last=0),
        ms(
            "QLinearAveragePool", ["a", "sa", "za", "sy", "zy"], "avgpool_u8",
            kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0,
        ),
        ms(
            "QLinearAveragePool", ["s", "sa", "ia", "sy", "iy"], "avgpool_i8",
            kernel_shape=[2, 2], strides=[1, 2], pads=[0, 1, 1, 0], count_include_pad=1,
        ),
        ms("QLinearConcat", ["sy", "zy", "a", "sa", "za", "b", "sb", "zb"], "concat_u8", axis=1),
        ms("QLinearConcat", ["sy", "iy", "s", "sa", "ia", "t", "sb", "ib"], "concat_i8", axis=-1),
        ms("QLinearSigmoid", ["a", "sa", "za", "ss", "z0"], "sigmoid_u8"),
        ms("QLinearSigmoid", ["s", "sa", "ia", "sb", "iy"], "sigmoid_i8"),
        ms("QLinearLeakyRelu", ["a", "sa", "za", "sy", "zy"], "leaky_u8", alpha=0.1),
        ms("QLinearLeakyRelu", ["s", "sa", "ia", "sy", "iy"], "leaky_i8", alpha=0.2),
        ms("QLinearSoftmax", ["a", "sa", "za", "ss", "z0"], "softmax_u8", axis=-1, opset=13),
        # opset 12 semantics: softmax over the input coerced to [1, 8*7*6] at axis 1.
        ms("QLinearSoftmax", ["s", "sa", "ia", "ss", "i128"], "softmax_i8", axis=1, opset=12),
        ms(
            "QGemm", ["g", "sa", "za", "gw", "gw_scale", "gw_zp", "gbias", "sy", "zy"],
            "qgemm_u8", alpha=0.5, transB=1,
        ),
        ms("QGemm", ["g", "sa", "za", "gw", "gw_scale", "gw_zp", "gbias"], "qgemm_f32", transB=1),
        # i8 A, B not transposed ([K, N]), per-tensor B scale, no C.
        ms("QGemm", ["gs", "sa", "ia", "mw", "mw_scale", "mw_zp", "", "sy", "iy"], "qgemm_i8"),
        ms("DynamicQuantizeMatMul", ["d", "mw", "mw_scale", "mw_zp", "mbias"], "dqmatmul"),
        ms(
            "MatMulIntegerToFloat", ["g", "mw", "sa", "mw_scale", "za", "mw_zp", "mbias"],
            "mmint_to_float",
        ),
        # The exact int32 fallbacks: transA, and u8 weights with a zero point.
        ms(
            "QGemm", ["gt", "sa", "za", "gw", "gw_scale", "gw_zp", "gbias", "sy", "zy"],
            "qgemm_trans_a", transA=1, transB=1, alpha=2.0,
        ),
        ms(
            "MatMulIntegerToFloat", ["g", "mwu", "sa", "mw_scale", "za", "mwu_zp"],
            "mmint_u8_weights",
        ),
        # A standard MaxPool of a u8 tensor, as QOperator models keep it.
        helper.make_node(
            "MaxPool", ["a"], ["maxpool_u8"], name="maxpool_u8", kernel_shape=[3, 3],
            strides=[2, 2], pads=[1, 1, 1, 1],
        ),
    ]
    shape = [1, 8, 7, 6]
    graph = helper.make_graph(
        nodes,
        "qop_contrib",
        [
            helper.make_tensor_value_info("a", U8, shape),
            helper.make_tensor_value_info("b", U8, shape),
            helper.make_tensor_value_info("bc", U8, [1, 8, 1, 1]),
            helper.make_tensor_value_info("s", I8, shape),
            helper.make_tensor_value_info("t", I8, shape),
            helper.make_tensor_value_info("g", U8, [5, 48]),
            helper.make_tensor_value_info("gs", I8, [5, 48]),
            helper.make_tensor_value_info("gt", U8, [48, 5]),
            helper.make_tensor_value_info("d", F, [2, 3, 48]),
        ],
        [
            helper.make_tensor_value_info("add_u8", U8, shape),
            helper.make_tensor_value_info("add_i8", I8, shape),
            helper.make_tensor_value_info("mul_u8", U8, shape),
            helper.make_tensor_value_info("mul_i8", I8, shape),
            helper.make_tensor_value_info("gap_u8", U8, [1, 8, 1, 1]),
            helper.make_tensor_value_info("gap_i8", I8, [1, 8, 1, 1]),
            helper.make_tensor_value_info("avgpool_u8", U8, [1, 8, 4, 3]),
            helper.make_tensor_value_info("avgpool_i8", I8, [1, 8, 7, 3]),
            helper.make_tensor_value_info("concat_u8", U8, [1, 16, 7, 6]),
            helper.make_tensor_value_info("concat_i8", I8, [1, 8, 7, 12]),
            helper.make_tensor_value_info("sigmoid_u8", U8, shape),
            helper.make_tensor_value_info("sigmoid_i8", I8, shape),
            helper.make_tensor_value_info("leaky_u8", U8, shape),
            helper.make_tensor_value_info("leaky_i8", I8, shape),
            helper.make_tensor_value_info("softmax_u8", U8, shape),
            helper.make_tensor_value_info("softmax_i8", I8, shape),
            helper.make_tensor_value_info("qgemm_u8", U8, [5, 24]),
            helper.make_tensor_value_info("qgemm_f32", F, [5, 24]),
            helper.make_tensor_value_info("qgemm_i8", I8, [5, 16]),
            helper.make_tensor_value_info("qgemm_trans_a", U8, [5, 24]),
            helper.make_tensor_value_info("mmint_u8_weights", F, [5, 16]),
            helper.make_tensor_value_info("dqmatmul", F, [2, 3, 16]),
            helper.make_tensor_value_info("mmint_to_float", F, [5, 16]),
            helper.make_tensor_value_info("maxpool_u8", U8, [1, 8, 4, 3]),
        ],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)],
    )
    model.ir_version = 7
    case = HERE / "qop_contrib"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    onnx.save(model, str(case / "model.onnx"))
    inputs = {
        "a": rng.integers(0, 256, size=shape, dtype=np.uint8),
        "b": rng.integers(0, 256, size=shape, dtype=np.uint8),
        "bc": rng.integers(0, 256, size=[1, 8, 1, 1], dtype=np.uint8),
        "s": rng.integers(-128, 128, size=shape, dtype=np.int8),
        "t": rng.integers(-128, 128, size=shape, dtype=np.int8),
        "g": rng.integers(0, 256, size=[5, 48], dtype=np.uint8),
        "d": rng.standard_normal((2, 3, 48)).astype(np.float32),
        "gs": rng.integers(-128, 128, size=[5, 48], dtype=np.int8),
        "gt": rng.integers(0, 256, size=[48, 5], dtype=np.uint8),
    }
    write_case(
        case, case / "model.onnx", inputs,
        "hand-built com.microsoft ops: QLinearAdd/Mul (u8, i8, broadcast), "
        "QLinearGlobalAveragePool, QLinearAveragePool (pads, count_include_pad 0/1), "
        "QLinearConcat, QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax (opset 13 and 12 "
        "semantics), QGemm (alpha, transB, int32 C; u8, i8 and float output), DynamicQuantizeMatMul, MatMulIntegerToFloat, "
        "a standard MaxPool of u8; the int32 fallbacks (QGemm transA, MatMulIntegerToFloat with u8 "
        "weights and a zero point)",
    )
    # Refused forms (no reference: the import must fail naming node and operator).
    for bad, node in (
        ("bad_channels_last", ms("QLinearGlobalAveragePool", ["a", "sa", "za", "sp", "zy"],
                                 "gap_nhwc", channels_last=1)),
        ("bad_scale", ms("QLinearAdd", ["a", "sc", "za", "b", "sb", "zb", "sy", "zy"],
                         "add_per_channel")),
    ):
        g = helper.make_graph(
            [node], bad,
            [helper.make_tensor_value_info("a", U8, shape),
             helper.make_tensor_value_info("b", U8, shape)],
            [helper.make_tensor_value_info(node.output[0], U8, None)],
            [i for i in inits if i.name in ("sa", "za", "sp", "zy", "sb", "zb", "sy")]
            + [numpy_helper.from_array(np.full(8, 0.05, np.float32), "sc")],
        )
        m = helper.make_model(
            g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]
        )
        m.ir_version = 7
        onnx.save(m, str(case / f"{bad}.onnx"))
    print("qop_contrib done")


def resnet50_qop_ms() -> None:
    """resnet50 through quantize_static(QOperator) with the default op types
    (QLinearAdd, QLinearGlobalAveragePool, QGemm...), into testmodels/quant/large/."""
    r50 = LARGE / "resnet50"
    if not (r50 / "model.onnx").exists():
        sys.exit("testmodels/large/resnet50 is missing: run testmodels/gen/generate.py --large")
    x = np.load(r50 / "inputs" / "input.npy")
    calib = np.random.default_rng(7).standard_normal((8,) + x.shape[1:]).astype(np.float32)
    case = QUANT_LARGE / "resnet50_int8_qop_ms"
    shutil.rmtree(case, ignore_errors=True)
    quantize_qop_default(r50 / "model.onnx", case / "model.onnx", calib)
    write_case(
        case, case / "model.onnx", {"input": x},
        "resnet50 quantized by quantize_static (QOperator, default op_types_to_quantize: "
        "com.microsoft contrib ops; u8/i8 per-channel, MinMax on 8 seeded N(0,1) images)",
    )
    print(f"{case.name} done")


def main(argv: list[str]) -> None:
    if "--large" in argv:
        r50 = LARGE / "resnet50"
        if not (r50 / "model.onnx").exists():
            sys.exit("testmodels/large/resnet50 is missing: run testmodels/gen/generate.py --large")
        image_model(
            r50, "resnet50_int8", QUANT_LARGE,
            [(QuantFormat.QDQ, "qdq"), (QuantFormat.QOperator, "qop")],
        )
    if "--large" in argv or "--large-contrib" in argv:
        resnet50_qop_ms()
        return
    if "--dynamic" in argv:  # only the quantize_dynamic cases
        dynamic_models()
        return
    if "--contrib" in argv:  # only the com.microsoft contrib-op cases
        qop_contrib()
        digits_contrib()
        return
    digits()
    qop_ops()
    qop_pool()
    image_model(ROOT / "models" / "mobilenet_v2", "mobilenet_v2", HERE, [(QuantFormat.QDQ, "qdq")])
    dynamic_models()
    qop_contrib()
    digits_contrib()


if __name__ == "__main__":
    main(sys.argv[1:])
