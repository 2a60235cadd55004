#!/usr/bin/env python3
"""Regenerate the MXNet test models of neoc's MXNet frontend.

    python3 -m venv testmodels/.venv-mxnet
    testmodels/.venv-mxnet/bin/pip install -r testmodels/mxnet/requirements.txt
    testmodels/.venv-mxnet/bin/python testmodels/mxnet/generate.py           # committed models
    testmodels/.venv-mxnet/bin/python testmodels/mxnet/generate.py cnn       # only the named ones
    testmodels/.venv-mxnet/bin/python testmodels/mxnet/generate.py --large   # gluon model zoo

Writes, relative to testmodels/mxnet/:
    models/<name>/model-symbol.json     HybridBlock.export(epoch=0): the graph
    models/<name>/model-0000.params     ... and its parameters (NDArray list)
    models/<name>/inputs/data.npy       the input
    models/<name>/expected/output_<i>.npy   MXNet's outputs (inference mode)
    models/<name>/case.json             description, versions, tolerances, input shapes
    errors/                             models that must be refused with a clear message
    large/<name>/...                    resnet18_v1 and mobilenetv2_1.0 (random init,
                                        randomized batch norms), only with --large
                                        (git-ignored)

References come from MXNet itself (float32, CPU), never from neoc. Everything is seeded.
Pinned: mxnet 1.9.1, numpy 1.23.5 (requirements.txt beside this file).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn
from mxnet.gluon.model_zoo import vision

ROOT = Path(__file__).resolve().parent
MODELS = ROOT / "models"
LARGE = ROOT / "large"
ERRORS = ROOT / "errors"
PINNED = "1.9.1"


def save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


def randomize(net: gluon.Block, seed: int) -> None:
    """Batch-norm statistics and affine parameters away from their identity init."""
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        shape = p.shape
        if name.endswith("running_mean") or name.endswith("beta"):
            p.set_data(mx.nd.array(rng.normal(0, 0.2, shape).astype(np.float32)))
        elif name.endswith("running_var") or name.endswith("gamma"):
            p.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape).astype(np.float32)))


def emit(out: Path, net: gluon.HybridBlock, x: np.ndarray, description: str,
         rtol=1e-4, atol=1e-5) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    net.hybridize()
    ys = net(mx.nd.array(x))
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    net.export(str(out / "model"), epoch=0)
    save_npy(out / "inputs" / "data.npy", x)
    outs = [y.asnumpy() for y in ys]
    for i, y in enumerate(outs):
        save_npy(out / "expected" / f"output_{i}.npy", y)
    case = {
        "description": description,
        "framework": f"mxnet {mx.__version__}",
        "rtol": rtol,
        "atol": atol,
        "inputs": [{"name": "data", "dtype": "float32", "shape": list(x.shape)}],
        "outputs": [list(y.shape) for y in outs],
        "input_shapes": {"data": list(x.shape)},
    }
    (out / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    print(f"{out.relative_to(ROOT)}: outputs {[y.shape for y in outs]}")


class Cnn(gluon.HybridBlock):
    """The operators of the gluon model zoo CNNs, plus the other activations."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.conv0 = nn.Conv2D(16, 3, strides=2, padding=1, use_bias=False)
            self.bn0 = nn.BatchNorm()
            self.dw = nn.Conv2D(16, 3, padding=2, dilation=2, groups=16)
            self.bn1 = nn.BatchNorm(scale=False, epsilon=1e-3)  # fix_gamma
            self.pw = nn.Conv2D(24, 1)
            self.prelu = nn.PReLU()
            self.sq = nn.Conv2D(8, 1, activation="relu")
            self.e1 = nn.Conv2D(8, 1)
            self.e3 = nn.Conv2D(8, 3, padding=1)
            self.leaky = nn.LeakyReLU(0.1)
            self.elu = nn.ELU(0.7)
            self.fc0 = nn.Dense(32, activation="tanh", weight_initializer=mx.init.Normal(0.5))
            self.drop = nn.Dropout(0.3)
            self.fc1 = nn.Dense(10, weight_initializer=mx.init.Normal(1.0))

    def hybrid_forward(self, F, x):
        x = F.clip(self.bn0(self.conv0(x)), 0, 6)                        # ReLU6
        y = self.bn1(self.dw(x))
        y = F.Activation(y, act_type="softrelu") + F.Activation(x, act_type="sigmoid")
        x = self.prelu(self.pw(y))
        x = F.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max",
                      pooling_convention="full")                          # ceil mode
        s = self.sq(x)
        x = F.concat(self.leaky(self.e1(s)), self.elu(self.e3(s)), dim=1)
        a = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="avg")
        b = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="avg",
                      count_include_pad=False)
        x = F.broadcast_mul(a, F.sigmoid(b)) - 0.5 * x
        g = F.Pooling(x, global_pool=True, pool_type="max", kernel=(1, 1))
        x = F.Flatten(x) * 0.1
        x = F.concat(self.fc0(x), F.Flatten(g), F.Activation(F.flatten(g), act_type="softsign"),
                     dim=1)
        logits = self.fc1(self.drop(x))
        return logits, F.softmax(logits)


class Mlp(gluon.HybridBlock):
    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.fc0 = nn.Dense(64, activation="relu")
            self.fc1 = nn.Dense(64)
            self.fc2 = nn.Dense(10)

    def hybrid_forward(self, F, x):
        h = self.fc0(x)
        h = F.LeakyReLU(self.fc1(h), act_type="gelu") + h
        h = F.reshape(h, shape=(0, -4, 8, -1))                           # [N, 8, 8]
        h = F.reshape(F.broadcast_add(F.mean(h, axis=2, keepdims=True), h), shape=(0, -3))
        return self.fc2(h)


def cnn() -> None:
    mx.random.seed(1)
    np.random.seed(1)
    net = Cnn()
    net.initialize(mx.init.Xavier(magnitude=2.0))
    x = np.random.default_rng(2).normal(0, 1, (2, 3, 32, 32)).astype(np.float32)
    net(mx.nd.array(x))
    randomize(net, 3)
    emit(MODELS / "cnn", net, x,
         "small gluon CNN, 2x3x32x32: strided/dilated/depthwise Convolution, BatchNorm "
         "(randomized; fix_gamma via scale=False), clip (ReLU6), softrelu, sigmoid, PReLU, "
         "max Pooling with pooling_convention=full, Concat, LeakyReLU, ELU, avg Pooling with "
         "and without count_include_pad, broadcast_mul, scalar ops, global max pool, Flatten, "
         "Dense (FullyConnected), softsign, Dropout, softmax; outputs logits and softmax")


def mlp() -> None:
    mx.random.seed(4)
    net = Mlp()
    net.initialize(mx.init.Xavier())
    x = np.random.default_rng(5).normal(0, 1, (4, 20)).astype(np.float32)
    emit(MODELS / "mlp", net, x,
         "small MLP, 4x20: Dense(relu), Dense + GELU (LeakyReLU act_type=gelu), residual, "
         "Reshape with -4/-3 codes, mean keepdims, Dense(10)")


def errors() -> None:
    ERRORS.mkdir(parents=True, exist_ok=True)
    data = mx.sym.var("data")
    y = mx.sym.Deconvolution(data, kernel=(2, 2), num_filter=4, name="deconv")
    y = mx.sym.ROIPooling(y, mx.sym.var("rois"), pooled_size=(2, 2), spatial_scale=1.0,
                          name="roi")
    y = mx.sym.relu(y)
    y.save(str(ERRORS / "unsupported-symbol.json"))
    mx.nd.save(str(ERRORS / "unsupported-0000.params"),
               {"arg:deconv_weight": mx.nd.ones((3, 4, 2, 2))})
    # A valid model whose parameters file is cut short.
    src = MODELS / "mlp"
    shutil.copy(src / "model-symbol.json", ERRORS / "truncated-symbol.json")
    params = (src / "model-0000.params").read_bytes()
    (ERRORS / "truncated-0000.params").write_bytes(params[: len(params) // 2])
    print("errors/: unsupported, truncated")


def large(names: list[str]) -> None:
    for name in names or ["resnet18_v1", "mobilenetv2_1.0"]:
        mx.random.seed(10)
        net = vision.get_model(name, pretrained=False)
        net.initialize(mx.init.Xavier())
        x = np.random.default_rng(11).normal(0, 1, (1, 3, 224, 224)).astype(np.float32)
        net(mx.nd.array(x))
        randomize(net, 12)
        emit(LARGE / name, net, x,
             f"gluon model zoo {name} (random init, randomized batch norms), 1x3x224x224")


def main(argv: list[str]) -> None:
    if mx.__version__ != PINNED:
        print(f"warning: mxnet {mx.__version__} is not the pinned {PINNED}", file=sys.stderr)
    if "--large" in argv:
        large([a for a in argv if a != "--large"])
        return
    todo = {"cnn": cnn, "mlp": mlp, "errors": errors}
    for name in argv or list(todo):
        todo[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
