"""Prints how long neoc.load and Model.run take from Python for one artifact, run on
zeros of each input's shape and dtype (median of several tries; the first load of the
file warms the page cache and is reported on its own).

    python timing.py mobilenet_v2.neo [--threads N] [--runs N]
"""

import argparse
import statistics
import time

import numpy as np

import neoc


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=None, help="threads per run (default: all CPUs)")
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()

    loads = []
    for _ in range(11):
        t0 = time.perf_counter()
        model = neoc.load(args.model, threads=args.threads)
        loads.append(time.perf_counter() - t0)
    print(f"neoc.load: first {loads[0] * 1e3:.2f} ms, median of next 10 "
          f"{statistics.median(loads[1:]) * 1e3:.2f} ms")

    inputs = {i.name: np.zeros(i.shape, i.dtype) for i in model.inputs}
    model.run(inputs)  # warm-up: allocates the context
    runs = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        model.run(inputs)
        runs.append(time.perf_counter() - t0)
    print(f"Model.run: median {statistics.median(runs) * 1e3:.3f} ms, "
          f"min {min(runs) * 1e3:.3f} ms over {args.runs} runs "
          f"(threads={'all' if args.threads is None else args.threads})")


if __name__ == "__main__":
    main()
