#!/usr/bin/env python3
"""PyTorch side of the GPU benchmark (device-pack/run.sh): times the same models as the
neoc benchmark artifacts on the same GPU, PyTorch eager and torch.compile, fp32 and fp16,
batch 1 and 32. Prints one JSON object per line:
{"model", "batch", "precision", "mode", "median_ms"} or {..., "error"}.

Weights are the generator's seeded random ones (testmodels/gen/generate.py); timing does
not depend on them. Inputs and outputs stay on the GPU here (neoc-cuda-run's figures
include the host<->device copies of inputs and outputs, which favours PyTorch)."""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def build(name, batch):
    if name in ("bert_encoder", "bert_base"):
        from generate import bert_module
        kw = {} if name == "bert_encoder" else dict(hidden=768, layers=12, heads=12, inner=3072)
        m, _ = bert_module(**kw)
        x = torch.randint(0, 1000, (batch, 128))
        return m, x
    import torchvision
    m = getattr(torchvision.models, name)(weights=None)
    return m, torch.randn(batch, 3, 224, 224)


def time_ms(fn, x, warmup, iters):
    with torch.inference_mode():
        for _ in range(warmup):
            fn(x)
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn(x)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--precisions", nargs="+", default=["fp32", "fp16"])
    p.add_argument("--modes", nargs="+", default=["eager", "compile"])
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    a = p.parse_args()
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}),
          flush=True)
    for name in a.models:
        for batch in a.batches:
            for prec in a.precisions:
                for mode in a.modes:
                    row = dict(model=name, batch=batch, precision=prec, mode=mode)
                    try:
                        m, x = build(name, batch)
                        m = m.eval().cuda()
                        x = x.cuda()
                        if prec == "fp16":
                            m = m.half()
                            if x.is_floating_point():
                                x = x.half()
                        fn = torch.compile(m) if mode == "compile" else m
                        row["median_ms"] = round(time_ms(fn, x, a.warmup, a.iters), 4)
                    except Exception as e:  # noqa: BLE001 - reported, the table goes on
                        row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
                    print(json.dumps(row), flush=True)
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
