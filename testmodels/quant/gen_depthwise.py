#!/usr/bin/env python3
"""``qop_depthwise``: hand-built depthwise QLinearConvs (group = channels) and their
onnxruntime references, for the direct int8 depthwise kernel
(compiler/kernel/src/lower/int8_depthwise.rs).

    testmodels/.venv-quant/bin/python testmodels/quant/gen_depthwise.py

Shapes chosen for that kernel's paths: stride 1 and stride 2 (the u16-word reads) on
an odd width with batch 2, a dilated 5x5 window, rows wider than one vector (37
columns, whole-vector rows and the plane's exact last rows), a 7x7 map, i8 activations
and outputs. Helpers and the onnxruntime settings (one thread, no graph optimizations)
come from generate.py.
"""

import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from generate import HERE, write_case


def qop_depthwise() -> None:
    rng = np.random.default_rng(31)
    U8, I8 = TensorProto.UINT8, TensorProto.INT8
    inits = []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))

    init("x_scale", np.float32(0.05))
    init("x_zp", np.uint8(121))
    init("xs_scale", np.float32(0.04))
    init("xs_zp", np.int8(-5))
    nodes, outputs = [], []

    def dw(name, x, xq, c, kernel, out_shape, out_type=U8, **attrs):
        """A depthwise QLinearConv of `c` channels reading `x` (quantized as `xq`)."""
        init(f"{name}_w", rng.integers(-127, 128, size=(c, 1, *kernel), dtype=np.int8))
        init(f"{name}_ws", rng.uniform(0.002, 0.02, size=c).astype(np.float32))
        init(f"{name}_wz", np.zeros(c, np.int8))
        init(f"{name}_b", rng.integers(-2000, 2000, size=c, dtype=np.int32))
        init(f"{name}_ys", np.float32(rng.uniform(0.1, 0.3)))
        zero = np.uint8(97) if out_type == U8 else np.int8(-7)
        init(f"{name}_yz", zero)
        ins = [x, f"{xq}_scale", f"{xq}_zp", f"{name}_w", f"{name}_ws", f"{name}_wz",
               f"{name}_ys", f"{name}_yz", f"{name}_b"]
        nodes.append(helper.make_node(
            "QLinearConv", ins, [name], group=c, kernel_shape=list(kernel), name=name, **attrs
        ))
        outputs.append(helper.make_tensor_value_info(name, out_type, out_shape))

    dw("s1", "x", "x", 16, (3, 3), [2, 16, 13, 11], pads=[1, 1, 1, 1])
    dw("s2", "x", "x", 16, (3, 3), [2, 16, 7, 6], strides=[2, 2], pads=[1, 1, 1, 1])
    dw("dilated", "x", "x", 16, (5, 5), [2, 16, 9, 7], pads=[2, 2, 2, 2], dilations=[2, 2])
    dw("wide", "xw", "x", 8, (3, 3), [1, 8, 6, 37], pads=[1, 1, 1, 1])
    dw("wide_s2", "xw", "x", 8, (3, 3), [1, 8, 3, 19], strides=[2, 2], pads=[1, 1, 1, 1])
    dw("small", "xm", "x", 32, (3, 3), [1, 32, 7, 7], pads=[1, 1, 1, 1])
    dw("s8", "xs", "xs", 16, (3, 3), [1, 16, 7, 5], out_type=I8, strides=[2, 2],
       pads=[1, 0, 1, 1])
    graph = helper.make_graph(
        nodes,
        "qop_depthwise",
        [
            helper.make_tensor_value_info("x", U8, [2, 16, 13, 11]),
            helper.make_tensor_value_info("xw", U8, [1, 8, 6, 37]),
            helper.make_tensor_value_info("xm", U8, [1, 32, 7, 7]),
            helper.make_tensor_value_info("xs", I8, [1, 16, 13, 11]),
        ],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    case = HERE / "qop_depthwise"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    onnx.save(model, str(case / "model.onnx"))
    inputs = {
        "x": rng.integers(0, 256, size=(2, 16, 13, 11), dtype=np.uint8),
        "xw": rng.integers(0, 256, size=(1, 8, 6, 37), dtype=np.uint8),
        "xm": rng.integers(0, 256, size=(1, 32, 7, 7), dtype=np.uint8),
        "xs": rng.integers(-128, 128, size=(1, 16, 13, 11), dtype=np.int8),
    }
    write_case(
        case, case / "model.onnx", inputs,
        "depthwise QLinearConvs: stride 1 and 2, dilated 5x5, 37-wide rows, 7x7 map, "
        "i8 activations and output",
    )
    print("qop_depthwise done")


if __name__ == "__main__":
    qop_depthwise()
