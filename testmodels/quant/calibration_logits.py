#!/usr/bin/env python3
"""onnxruntime's float logits for the digits CNN's calibration samples.

    testmodels/.venv-quant/bin/python testmodels/quant/calibration_logits.py

Reads testmodels/quant/digits/model.onnx and digits/calibration/part*.npy (written by
generate.py; 4 stacks of 32 images, in file-name order, as `neoc compile --calibration`
reads them) and writes digits/expected/calibration_logits.npy, float32 [128, 10]: the
reference against which the driver tests check that `--accuracy-budget` holds on the
calibration set (compiler/driver/tests/quantized_models.rs,
`accuracy_budget_holds_against_onnxruntime`).

onnxruntime CPU provider, one thread, graph optimizations disabled, batch 1 per image,
like generate.py.
"""

from pathlib import Path

import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent


def main() -> None:
    case = HERE / "digits"
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(
        str(case / "model.onnx"), so, providers=["CPUExecutionProvider"]
    )
    name = sess.get_inputs()[0].name
    parts = sorted((case / "calibration").glob("*.npy"))
    images = np.concatenate([np.load(p) for p in parts]).astype(np.float32)
    logits = np.concatenate(
        [sess.run(None, {name: images[i : i + 1]})[0] for i in range(len(images))]
    ).astype(np.float32)
    np.save(case / "expected" / "calibration_logits.npy", logits)
    print(f"{len(images)} calibration images -> {logits.shape} logits")


if __name__ == "__main__":
    main()
