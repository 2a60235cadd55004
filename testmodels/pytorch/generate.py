#!/usr/bin/env python3
"""Regenerate the PyTorch test models of neoc's PyTorch frontend.

    testmodels/.venv/bin/python testmodels/pytorch/generate.py          # committed models
    testmodels/.venv/bin/python testmodels/pytorch/generate.py cnn      # only the named ones
    testmodels/.venv/bin/python testmodels/pytorch/generate.py errors   # only errors/
    testmodels/.venv/bin/python testmodels/pytorch/generate.py --large  # torchvision models
    testmodels/.venv/bin/python testmodels/pytorch/generate.py --large resnet18

Writes, relative to testmodels/pytorch/:
    models/<name>/model.pt            torch.jit.trace + torch.jit.save (example inputs stored)
    models/<name>/model.pt2           torch.export.export + torch.export.save
    models/<name>/model_core.pt2      the same program after run_decompositions() (core aten)
    models/<name>/model_scripted.pt   (cnn) torch.jit.script + torch.jit.save: no shapes inside
    models/<name>/inputs/<arg>.npy    one per forward argument, named like it
    models/<name>/expected/output_<i>.npy   torch's outputs (eval mode, no_grad), flattened
    models/<name>/case.json           description, torch version, tolerances, inputs
    errors/                           archives that must be refused with a clear message
    large/<name>/...                  same layout, only with --large (git-ignored)

References come from torch itself (float32, CPU, one thread), never from neoc.
Everything is seeded; pinned: torch 2.5.1, torchvision 0.20.1 (testmodels/gen/requirements.txt).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = Path(__file__).resolve().parent
MODELS = ROOT / "models"
LARGE = ROOT / "large"
PINNED = ("2.5.1", "0.20.1")

torch.set_num_threads(1)


def save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into shape (1,))
        arr = np.ascontiguousarray(arr)
    np.save(path, arr, allow_pickle=False)


def randomize_norms(m: nn.Module, seed: int) -> None:
    """BatchNorm statistics/affine and LayerNorm affine away from their identity init,
    so that folding and normalisation bugs show in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(c, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=g) * 0.1)
            elif isinstance(mod, nn.LayerNorm) and mod.elementwise_affine:
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)


def write_case(out: Path, name: str, module: nn.Module, inputs: dict, description: str,
               rtol: float, atol: float, core: bool = True, scripted: bool = False) -> None:
    """Saves the module in both formats with torch's reference outputs."""
    d = out / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    module.eval()
    args = tuple(inputs.values())
    with torch.no_grad():
        ref = module(*args)
        traced = torch.jit.trace(module, args)
    traced.save(str(d / "model.pt"))
    ep = torch.export.export(module, args)
    torch.export.save(ep, str(d / "model.pt2"))
    if core:
        torch.export.save(ep.run_decompositions(), str(d / "model_core.pt2"))
    if scripted:  # no example inputs: importers need the input shapes (case.json)
        torch.jit.script(module).save(str(d / "model_scripted.pt"))
    outs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
    for k, v in inputs.items():
        save_npy(d / "inputs" / f"{k}.npy", v.numpy())
    for i, o in enumerate(outs):
        save_npy(d / "expected" / f"output_{i}.npy", o.detach().numpy())
    case = {
        "description": description,
        "framework": f"torch {torch.__version__.split('+')[0]}",
        "rtol": rtol,
        "atol": atol,
        "inputs": [{"name": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                   for k, v in inputs.items()],
        "outputs": [list(o.shape) for o in outs],
        "formats": ["model.pt", "model.pt2"] + (["model_core.pt2"] if core else [])
                   + (["model_scripted.pt"] if scripted else []),
    }
    (d / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    print(f"{name}: {', '.join(case['formats'])}; outputs {case['outputs']}")


# --------------------------------------------------------------------------
# committed models
# --------------------------------------------------------------------------

class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c, r, 1)
        self.fc2 = nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(self.fc1(s))
        return x * F.hardsigmoid(self.fc2(s))


class SmallCnn(nn.Module):
    """The operators of resnet / mobilenet_v3 / efficientnet in a few layers."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.se = SqueezeExcite(16, 4)
        self.pw = nn.Conv2d(16, 24, 1)
        self.grouped = nn.Conv2d(24, 24, 3, padding="same", groups=4, dilation=2)
        self.bn3 = nn.BatchNorm2d(24)
        self.avg = nn.AvgPool2d(2, stride=2, count_include_pad=False)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(24 * 4, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.stem(x)))            # 2x16x16x16
        x = self.pool(x)                               # 2x16x8x8
        y = F.hardswish(self.bn2(self.dw(x)))
        y = self.se(y)
        x = x + y                                      # residual
        x = F.silu(self.pw(x))                         # 2x24x8x8
        x = F.relu6(self.bn3(self.grouped(x))) + F.gelu(x)
        x = self.avg(x)                                # 2x24x4x4
        x = F.adaptive_avg_pool2d(x, (2, 2))           # 2x24x2x2
        x = torch.flatten(self.drop(x), 1)
        return self.fc(x)


def gen_cnn(out: Path) -> None:
    torch.manual_seed(100)
    m = SmallCnn()
    randomize_norms(m, 101)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(102))
    write_case(out, "cnn", m, {"x": x},
               "small CNN with the operators of resnet/mobilenet_v3/efficientnet: strided conv, "
               "BatchNorm (randomized stats), ReLU, MaxPool(ceil_mode), depthwise conv, "
               "hardswish, squeeze-excite (adaptive pool, 1x1 convs, hardsigmoid, mul), residual "
               "add, SiLU, grouped dilated conv with padding='same', ReLU6, GELU, AvgPool, "
               "adaptive pool to 2x2, flatten, dropout (eval), Linear; input 2x3x32x32 N(0,1); "
               "also scripted (torch.jit.script: control flow folded at import)",
               rtol=1e-4, atol=1e-5, scripted=True)


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, use_mha: bool):
        super().__init__()
        self.use_mha = use_mha
        self.heads = heads
        if use_mha:
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        else:
            self.q = nn.Linear(d, d)
            self.k = nn.Linear(d, d)
            self.v = nn.Linear(d, d)
            self.o = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d, eps=1e-12)
        self.ln2 = nn.LayerNorm(d, eps=1e-12)
        self.ff1 = nn.Linear(d, ff)
        self.ff2 = nn.Linear(ff, d)
        self.act = nn.GELU()

    def forward(self, x, keep):
        # keep: [B, S] bool, True for real tokens.
        if self.use_mha:
            a, _ = self.attn(x, x, x, key_padding_mask=~keep, need_weights=False)
        else:
            b, t, d = x.shape
            h = self.heads

            def split(y):
                return y.view(b, t, h, d // h).transpose(1, 2)

            a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)),
                                               attn_mask=keep[:, None, None, :])
            a = self.o(a.transpose(1, 2).reshape(b, t, d))
        x = self.ln1(x + a)
        return self.ln2(x + self.ff2(self.act(self.ff1(x))))


class BertTiny(nn.Module):
    def __init__(self, vocab=100, d=32, seq=16, heads=4, ff=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.l1 = EncoderLayer(d, heads, ff, use_mha=True)
        self.l2 = EncoderLayer(d, heads, ff, use_mha=False)
        self.pool = nn.Linear(d, d)

    def forward(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        keep = attention_mask == 1
        x = self.ln(self.tok(input_ids) + self.pos(torch.arange(t)))
        x = self.l2(self.l1(x, keep), keep)
        return x, torch.tanh(self.pool(x[:, 0]))


def gen_bert(out: Path) -> None:
    torch.manual_seed(200)
    m = BertTiny()
    randomize_norms(m, 201)
    g = torch.Generator().manual_seed(202)
    # Batch 1: torch 2.5's run_decompositions fails on nn.MultiheadAttention with batch > 1.
    ids = torch.randint(0, 100, (1, 16), generator=g)
    mask = torch.ones(1, 16, dtype=torch.int64)
    mask[0, 11:] = 0  # padded after 11 tokens
    write_case(out, "bert", m, {"input_ids": ids, "attention_mask": mask},
               "BERT-style encoder from torch.nn: token + position Embedding(100/16, 32), "
               "LayerNorm(eps 1e-12, affine randomized), layer 1 with nn.MultiheadAttention(32, 4 "
               "heads, batch_first; traced under no_grad it is _native_multi_head_attention, "
               "with key_padding_mask), layer 2 with q/k/v Linear + F.scaled_dot_product_attention "
               "(bool attn_mask), FFN Linear(32,64) - GELU(erf) - Linear(64,32), residual + "
               "LayerNorm, pooler tanh(Linear(h[:, 0])); input_ids int64 [1,16], attention_mask "
               "int64 [1,16] (HF style: 1 = token; padded after 11 tokens); outputs last hidden "
               "state [1,16,32] and pooled [1,32]",
               rtol=1e-4, atol=1e-4)


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(32, 12, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, h = self.gru(y)
        return self.fc(y[:, -1]), h


def gen_rnn(out: Path) -> None:
    torch.manual_seed(300)
    m = Recurrent()
    x = torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(301))
    write_case(out, "rnn", m, {"x": x},
               "2-layer bidirectional LSTM(8,16, batch_first) -> GRU(32,12, batch_first) -> "
               "Linear(12,4) on the last step; also returns the GRU's h_n; input 2x6x8 N(0,1)",
               rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------
# inputs that must be refused cleanly (errors/)
# --------------------------------------------------------------------------

class Unsupported(nn.Module):
    """Three operators neoc does not map, each used twice."""

    def forward(self, x):
        a = torch.cumprod(x, 1) + torch.cumprod(x, 0)
        b = torch.sort(x, 1).values + torch.sort(x, 0).values
        c = x.unfold(1, 2, 2).sum(-1).repeat_interleave(2, 1) + x.unfold(0, 2, 2).sum(-1).repeat_interleave(2, 0)
        return a + b + c


def gen_errors(out: Path) -> None:
    """errors/: unsupported operators in both formats, a pickle naming a forbidden
    global, a torch.save checkpoint (no graph). See errors/README.md."""
    import pickle
    import zipfile

    out.mkdir(parents=True, exist_ok=True)
    m = Unsupported().eval()
    x = torch.randn(4, 4, generator=torch.Generator().manual_seed(900))
    with torch.no_grad():
        torch.jit.trace(m, (x,)).save(str(out / "unsupported_ops.pt"))
    torch.export.save(torch.export.export(m, (x,)), str(out / "unsupported_ops.pt2"))

    class Evil:  # pickled only; its reduce names os.system, which must never be called
        def __reduce__(self):
            import os
            return (os.system, ("echo this must never run",))

    with zipfile.ZipFile(out / "unknown_global.pt", "w", zipfile.ZIP_STORED) as z:
        z.writestr("m/data.pkl", pickle.dumps(Evil(), protocol=2))
        z.writestr("m/constants.pkl", pickle.dumps((), protocol=2))
        z.writestr("m/code/__torch__.py", "class M(Module):\n  def forward(self, x: Tensor) -> Tensor:\n    return x\n")
        z.writestr("m/version", "3\n")
    torch.save(nn.Linear(2, 2).state_dict(), str(out / "checkpoint.pt"))
    print("errors: unsupported_ops.pt, unsupported_ops.pt2, unknown_global.pt, checkpoint.pt")


# --------------------------------------------------------------------------
# large models (torchvision, git-ignored)
# --------------------------------------------------------------------------

LARGE_MODELS = {
    "resnet18": 400,
    "mobilenet_v3_small": 410,
    "efficientnet_b0": 420,
    "regnet_y_400mf": 430,
    "squeezenet1_0": 440,
    "densenet121": 450,
}


def gen_large(out: Path, name: str) -> None:
    seed = LARGE_MODELS[name]
    torch.manual_seed(seed)
    m = getattr(torchvision.models, name)(weights=None)
    randomize_norms(m, seed + 1)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 2))
    write_case(out, name, m, {"x": x},
               f"torchvision {name}(weights=None), torch.manual_seed({seed}), BatchNorm "
               "randomized (mean~N(0,0.1), var~U(0.5,1.5), weight~U(0.5,1.5), bias~N(0,0.1)), "
               "eval mode, input 1x3x224x224 N(0,1)",
               rtol=1e-4, atol=1e-5, core=name == "resnet18")


SMALL = {"cnn": gen_cnn, "bert": gen_bert, "rnn": gen_rnn}


def main(argv: list[str]) -> None:
    versions = (torch.__version__.split("+")[0], torchvision.__version__.split("+")[0])
    if versions != PINNED:
        sys.exit(f"need torch {PINNED[0]} / torchvision {PINNED[1]}, found {versions}")
    if argv and argv[0] == "--large":
        for name in argv[1:] or list(LARGE_MODELS):
            gen_large(LARGE, name)
        return
    if argv == ["errors"] or not argv:
        gen_errors(ROOT / "errors")
    for name in [a for a in argv if a != "errors"] or ([] if argv else list(SMALL)):
        SMALL[name](MODELS)


if __name__ == "__main__":
    main(sys.argv[1:])
