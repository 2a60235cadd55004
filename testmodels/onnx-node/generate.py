#!/usr/bin/env python3
"""Materialise the ONNX backend node tests in the classic on-disk layout.

    testmodels/onnx-node/node/<case>/model.onnx
    testmodels/onnx-node/node/<case>/test_data_set_<k>/input_<i>.pb
    testmodels/onnx-node/node/<case>/test_data_set_<k>/output_<i>.pb

Run with the pinned venv (testmodels/gen/requirements.txt, onnx==1.17.0):

    testmodels/.venv/bin/python testmodels/onnx-node/generate.py

onnx 1.17 ships the cases as files inside the wheel (onnx/backend/test/data/node), so they
are copied byte for byte. Newer onnx releases (1.22+) build the cases in memory; then
`load_model_tests(kind="node")` hands back TestCase objects carrying `model` and
`data_sets`, which are serialised here with numpy's RNG seeded so the bytes are
reproducible. Either way the output replaces the `node/` folder wholesale.

The other sets the wheel ships as files — `simple` (23 small models),
`pytorch-converted` (82 torch.nn modules exported by torch) and `pytorch-operator` (35
single torch operators) — are copied byte for byte into sibling folders and committed
(about 12 MB together). `light` is different: the wheel ships nine real architectures (alexnet, densenet121,
inception v1/v2, resnet50, shufflenet, squeezenet, vgg19, zfnet512) whose weights are
`ConstantOfShape` nodes, as flat `light_<name>.onnx` + `light_<name>_output_0.pb` files
and no inputs. They are written here in the classic layout, `light/<name>/`, with the
input onnx's own runner uses for them (`generate_dummy_data(random=False)`:
`np.arange(n).reshape(shape) / n` as float32) and the shipped expected output; this set
is committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
PINNED_ONNX = "1.17.0"
# File-backed sets copied as they are (see the module docs).
EXTRA_SETS = ("simple", "pytorch-converted", "pytorch-operator")


def wheel_data_dir() -> str:
    import onnx.backend.test.loader as loader

    return loader.DATA_DIR


def copy_set(kind: str, dest: str) -> int:
    src = os.path.join(wheel_data_dir(), kind)
    if not os.path.isdir(src):
        return -1
    if os.path.exists(dest):
        shutil.rmtree(dest)
    n = 0
    for name in sorted(os.listdir(src)):
        case = os.path.join(src, name)
        if not os.path.isdir(case):
            continue  # e.g. a generated __init__.py
        shutil.copytree(case, os.path.join(dest, name))
        n += 1
    return n


def materialise_light(dest: str) -> int:
    """The `light` set in the classic layout (see the module docs)."""
    src = os.path.join(wheel_data_dir(), "light")
    if not os.path.isdir(src):
        return -1
    if os.path.exists(dest):
        shutil.rmtree(dest)
    n = 0
    for f in sorted(os.listdir(src)):
        if not (f.startswith("light_") and f.endswith(".onnx")):
            continue
        name = f[len("light_"):-len(".onnx")]
        model = onnx.load(os.path.join(src, f))
        out = os.path.join(dest, name)
        ds = os.path.join(out, "test_data_set_0")
        os.makedirs(ds)
        shutil.copy(os.path.join(src, f), os.path.join(out, "model.onnx"))
        inits = {i.name for i in model.graph.initializer}
        k = 0
        for x in model.graph.input:
            if x.name in inits:
                continue
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                          for d in x.type.tensor_type.shape.dim)
            size = int(np.prod(shape))
            value = (np.arange(size).reshape(shape) / size).astype(np.float32)
            write_proto(os.path.join(ds, f"input_{k}.pb"), value)
            k += 1
        for i in range(len(model.graph.output)):
            shutil.copy(os.path.join(src, f"light_{name}_output_{i}.pb"),
                        os.path.join(ds, f"output_{i}.pb"))
        n += 1
    return n


def write_proto(path: str, value) -> None:
    if isinstance(value, np.ndarray):
        msg = numpy_helper.from_array(value)
    elif isinstance(value, list):
        msg = numpy_helper.from_list(value)
    elif isinstance(value, dict):
        msg = numpy_helper.from_dict(value)
    elif value is None:
        msg = numpy_helper.from_optional(None)
    else:
        msg = numpy_helper.from_array(np.asarray(value))
    with open(path, "wb") as f:
        f.write(msg.SerializeToString())


def materialise_in_memory(dest: str) -> int:
    """For onnx releases whose node tests exist only in memory."""
    from onnx.backend.test.loader import load_model_tests

    np.random.seed(0)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    n = 0
    for case in sorted(load_model_tests(kind="node"), key=lambda c: c.name):
        out = os.path.join(dest, case.name)
        os.makedirs(out)
        if case.model_dir is not None:  # still file-backed
            shutil.rmtree(out)
            shutil.copytree(case.model_dir, out)
            n += 1
            continue
        onnx.save(case.model, os.path.join(out, "model.onnx"))
        for k, (inputs, outputs) in enumerate(case.data_sets or []):
            ds = os.path.join(out, f"test_data_set_{k}")
            os.makedirs(ds)
            for i, v in enumerate(inputs):
                write_proto(os.path.join(ds, f"input_{i}.pb"), v)
            for i, v in enumerate(outputs):
                write_proto(os.path.join(ds, f"output_{i}.pb"), v)
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE, help="folder that receives node/ (default: here)")
    args = ap.parse_args()
    if onnx.__version__ != PINNED_ONNX:
        print(
            f"warning: onnx {onnx.__version__} differs from the pinned {PINNED_ONNX}; "
            "the committed data would change",
            file=sys.stderr,
        )
    np.random.seed(0)
    dest = os.path.join(args.out, "node")
    n = copy_set("node", dest)
    how = "copied from the wheel"
    if n < 0:
        n = materialise_in_memory(dest)
        how = "materialised in memory"
    print(f"node: {n} cases {how} into {dest}")
    m = materialise_light(os.path.join(args.out, "light"))
    print(f"light: {m} models written into {os.path.join(args.out, 'light')}")
    for kind in EXTRA_SETS:
        m = copy_set(kind, os.path.join(args.out, kind))
        if m < 0:
            print(f"{kind}: not shipped by onnx {onnx.__version__}", file=sys.stderr)
            return 1
        print(f"{kind}: {m} cases copied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
