"""The body of scripts/bench-vs-onnxruntime (run that; it pins the Python side).

Method, per model and thread count:
  1. compile the model with `neoc compile --target host` (or --target T) (with --batch N, both runtimes get
     a copy of the model whose first input dim is N);
  2. make one input (float: uniform [-1, 1), seed 0; integer: uniform [0, 100)) and save
     it as .npy so both runtimes see the same bytes;
  3. onnxruntime: one session, intra_op_num_threads = inter-op = T (sequential executor),
     all graph optimisations on; warm up;
  4. ROUNDS interleaved rounds: ITERATIONS timed onnxruntime runs, then `neoc bench
     --threads T --iterations ITERATIONS --json` on the same input; every sample kept;
  5. report the median of all samples of each, and neoc / onnxruntime (< 1: neoc faster).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort


def with_batch(model_path, batch, out_path):
    m = onnx.load(model_path)
    inits = {i.name for i in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = batch
    for vi in m.graph.output:
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
    del m.graph.value_info[:]
    onnx.save(m, out_path)


def make_inputs(sess, tmp):
    rng = np.random.default_rng(0)
    feeds, args = {}, []
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if "float" in i.type:
            a = rng.uniform(-1, 1, shape).astype(np.float32)
        else:
            a = rng.integers(0, 100, shape).astype(np.int64 if "int64" in i.type else np.int32)
        path = os.path.join(tmp, f"in{len(args)}.npy")
        np.save(path, a)
        feeds[i.name] = a
        args += ["--input", f"{i.name}={path}"]
    return feeds, args


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--batch", type=int)
    ap.add_argument("-O", dest="opt", default="2")
    ap.add_argument("--target", default="host",
                    help="neoc target (e.g. x86_64-avx512-vnni for the int8 kernels' vpdpbusd)")
    a = ap.parse_args()
    neoc = os.environ.get("NEOC", "target/release/neoc")
    if not os.access(neoc, os.X_OK):
        sys.exit(f"{neoc} not found: cargo build --release -p neoc (or set NEOC)")
    print(f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs; {a.rounds} rounds x "
          f"{a.iterations} iterations each, interleaved")
    print(f"{'model':<18}{'batch':>6}{'threads':>8}{'neoc ms':>10}{'ort ms':>10}{'neoc/ort':>10}")
    for path in a.models:
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        with tempfile.TemporaryDirectory() as tmp:
            src = path
            if a.batch:
                src = os.path.join(tmp, "model.onnx")
                with_batch(path, a.batch, src)
            art = os.path.join(tmp, "model.neo")
            subprocess.run([neoc, "compile", src, "--target", a.target, "-O", a.opt, "-o", art],
                           check=True, stdout=subprocess.DEVNULL)
            for t in [int(x) for x in a.threads.split(",")]:
                so = ort.SessionOptions()
                so.intra_op_num_threads = t
                so.inter_op_num_threads = 1
                so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
                feeds, in_args = make_inputs(sess, tmp)
                for _ in range(3):
                    sess.run(None, feeds)
                ort_ms, neoc_ms = [], []
                for _ in range(a.rounds):
                    for _ in range(a.iterations):
                        t0 = time.perf_counter()
                        sess.run(None, feeds)
                        ort_ms.append((time.perf_counter() - t0) * 1e3)
                    out = subprocess.run(
                        [neoc, "bench", art, "--threads", str(t), "--iterations",
                         str(a.iterations), "--json", *in_args],
                        check=True, capture_output=True, text=True).stdout
                    neoc_ms += json.loads(out)["samples_ms"]
                n, o = median(neoc_ms), median(ort_ms)
                print(f"{name:<18}{a.batch or 1:>6}{t:>8}{n:>10.3f}{o:>10.3f}{n / o:>10.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
