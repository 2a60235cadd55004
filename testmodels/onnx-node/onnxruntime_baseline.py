#!/usr/bin/env python3
"""Run onnxruntime over the committed conformance cases, with neoc's comparison.

    python3 -m venv .venv-ort
    .venv-ort/bin/pip install -r testmodels/onnx-node/requirements-baseline.txt
    .venv-ort/bin/python testmodels/onnx-node/onnxruntime_baseline.py

For every case of `node/`, `simple/`, `pytorch-converted/`, `pytorch-operator/` and
`light/` it builds an onnxruntime CPU session (onnxruntime 1.22.1, pinned in
requirements-baseline.txt: the 1.20.1 the reference generator pins refuses opset 22,
the opset of onnx 1.17's node tests), runs every `test_data_set_*`, and compares each output
with the reference exactly as compiler/driver/tests/onnx_node.rs does: same dtype and
shape, `|got - want| <= atol + rtol * |want|` with rtol 1e-3, atol 1e-7 (or the case's
manifest tags), NaN equal to NaN. A session that cannot be created (unknown operator,
type, ...) counts as "unsupported", an exception while running as "error".

It writes `onnxruntime.tsv` (set, case, status) beside this script; the conformance test
reads it to print onnxruntime's counts next to neoc's in docs/onnx-conformance.md.
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = ("node", "simple", "pytorch-converted", "pytorch-operator", "light")
RTOL, ATOL = 1e-3, 1e-7


def manifest_tolerances() -> dict[str, tuple[float, float]]:
    tol = {}
    with open(os.path.join(HERE, "manifest.txt")) as f:
        for raw in f:
            words = raw.split("#")[0].split()
            if not words:
                continue
            rtol, atol = RTOL, ATOL
            for tag in words[1:]:
                key, _, val = tag.partition(":")
                if key == "tol":
                    rtol = atol = float(val)
                elif key == "rtol":
                    rtol = float(val)
                elif key == "atol":
                    atol = float(val)
            tol[words[0]] = (rtol, atol)
    return tol


def load_value(path: str):
    """A tensor, sequence or optional .pb file as onnxruntime takes it."""
    data = open(path, "rb").read()
    t = onnx.TensorProto()
    try:
        t.ParseFromString(data)
        if t.data_type != 0:
            return numpy_helper.to_array(t)
    except Exception:  # noqa: BLE001 - not a TensorProto; try the other kinds
        pass
    s = onnx.SequenceProto()
    try:
        s.ParseFromString(data)
        if s.elem_type != 0:
            return numpy_helper.to_list(s)
    except Exception:  # noqa: BLE001
        pass
    o = onnx.OptionalProto()
    o.ParseFromString(data)
    return numpy_helper.to_optional(o)


def same(got, want, rtol: float, atol: float) -> bool:
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            same(g, w, rtol, atol) for g, w in zip(got, want)
        )
    if want is None:
        return got is None
    got = np.asarray(got)
    want = np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if want.dtype == object:
        return bool(np.all(got == want))
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    nan = np.isnan(g) & np.isnan(w)
    ok = (g == w) | nan | (np.abs(g - w) <= atol + rtol * np.abs(w))
    return bool(np.all(ok))


def run_case(case_dir: str, rtol: float, atol: float) -> str:
    model_path = os.path.join(case_dir, "model.onnx")
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any refusal to build the session
        return "unsupported"
    model = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in inits]
    out_names = [o.name for o in model.graph.output]
    for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))):
        ins = sorted(glob.glob(os.path.join(ds, "input_*.pb")), key=lambda p: int(p.split("_")[-1][:-3]))
        outs = sorted(glob.glob(os.path.join(ds, "output_*.pb")), key=lambda p: int(p.split("_")[-1][:-3]))
        feeds = {n: load_value(p) for n, p in zip(in_names, ins)}
        try:
            got = sess.run(out_names, feeds)
        except Exception:  # noqa: BLE001 - a run-time failure
            return "error"
        for g, p in zip(got, outs):
            if not same(g, load_value(p), rtol, atol):
                return "fail"
    return "pass"


def main() -> int:
    tol = manifest_tolerances()
    rows = []
    for s in SETS:
        root = os.path.join(HERE, s)
        if not os.path.isdir(root):
            continue
        counts: dict[str, int] = {}
        for name in sorted(os.listdir(root)):
            case = os.path.join(root, name)
            if not os.path.exists(os.path.join(case, "model.onnx")):
                continue
            key = name if s == "node" else f"{s}/{name}"
            rtol, atol = tol.get(key, (RTOL, ATOL))
            status = run_case(case, rtol, atol)
            counts[status] = counts.get(status, 0) + 1
            rows.append((s, name, status))
        print(f"{s}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    with open(os.path.join(HERE, "onnxruntime.tsv"), "w") as f:
        f.write(f"# onnxruntime {ort.__version__}, onnx {onnx.__version__}; "
                "written by onnxruntime_baseline.py\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
