#!/usr/bin/env python3
"""onnxruntime-optimized transformer models (com.microsoft fused ops) and their
onnxruntime references.

    testmodels/.venv-quant/bin/python testmodels/ms_fused/generate.py

(any venv with testmodels/ms_fused/requirements.txt). Writes, under testmodels/ms_fused/:

    <case>/model.onnx, <case>/inputs/<input>.npy, <case>/expected/<output>.npy, <case>/case.json

like testmodels/models/<name>/, plus ``errors/*.onnx``: fused-op forms neoc must refuse
(not run by onnxruntime).

Cases:
- ``bert_tiny``: a HF-BERT-like encoder written with torch.nn (word + position +
  token-type embeddings, LayerNorm, 2 layers of 4-head self-attention with the additive
  ``(1 - mask) * -10000`` extended mask, erf GELU FFN), exported at opset 14; the float
  original as ``bert_tiny_float``.
- ``bert_tiny_opt``: ``optimize_model(model_type="bert", num_heads=4, hidden_size=64,
  opt_level=1)``: the fused ops it writes are listed in case.json.
- ``bert_tiny_opt2``: the same with ``opt_level=2``.
- ``bert_tiny_opt_dyn``: ``quantize_dynamic`` of ``bert_tiny_opt`` (QAttention when it
  appears).
- ``ops_*``: hand-built single-op models for each op and attribute form.

References: onnxruntime CPU provider, one thread, graph optimizations disabled.
Everything is seeded.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent
MS = "com.microsoft"


def run_ort(path: Path, feeds: dict) -> list:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return names, s.run(None, feeds)


def write_case(name: str, model: onnx.ModelProto, feeds: dict, description: str,
               rtol=1e-4, atol=1e-4, extra=None):
    d = ROOT / name
    if d.exists():
        shutil.rmtree(d)
    (d / "inputs").mkdir(parents=True)
    (d / "expected").mkdir()
    onnx.save(model, d / "model.onnx")
    for k, v in feeds.items():
        np.save(d / "inputs" / f"{k}.npy", v)
    names, outs = run_ort(d / "model.onnx", feeds)
    for n, o in zip(names, outs):
        np.save(d / "expected" / f"{n}.npy", o)
    ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})
    case = {
        "description": description,
        "framework": f"onnxruntime {ort.__version__}",
        "ops": ops,
        "rtol": rtol,
        "atol": atol,
    }
    if extra:
        case.update(extra)
    (d / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    print(name, ops)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def single(op, inputs, outputs, attrs, inits, domain=MS, opset=14):
    """One node; `inputs`/`outputs` are (name, elem_type, shape) or "" for absent."""
    init_names = {i.name for i in inits}
    node = helper.make_node(
        op, [i if isinstance(i, str) else i[0] for i in inputs],
        [o if isinstance(o, str) else o[0] for o in outputs], domain=domain, **attrs)
    gin = [helper.make_tensor_value_info(*i) for i in inputs
           if not isinstance(i, str) and i[0] not in init_names]
    gout = [helper.make_tensor_value_info(*o) for o in outputs if not isinstance(o, str)]
    g = helper.make_graph([node], op, gin, gout, inits)
    imports = [helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)]
    m = helper.make_model(g, opset_imports=imports)
    m.ir_version = 8
    return m


F = TensorProto.FLOAT
I32 = TensorProto.INT32


def attention_cases(rng):
    B, S, H, N = 2, 8, 32, 4
    x = rng.standard_normal((B, S, H)).astype(np.float32)
    w = (rng.standard_normal((H, 3 * H)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(3 * H) * 0.1).astype(np.float32)

    def att(name, mask=None, attrs=None, bias=True, desc="", weight=w, bias_v=b, hv=H):
        inits = [init("w", weight)] + ([init("b", bias_v)] if bias else [])
        ins = [("x", F, [B, S, H]), "w", "b" if bias else ""]
        feeds = {"x": x}
        if mask is not None:
            ins.append(("mask_index", I32, list(mask.shape)))
            feeds["mask_index"] = mask
        a = {"num_heads": N}
        a.update(attrs or {})
        m = single("Attention", ins, [("y", F, [B, S, hv])], a, inits)
        write_case(name, m, feeds, f"com.microsoft Attention B={B} S={S} hidden={H} "
                   f"heads={N}: {desc}")

    att("ops_attention", desc="packed QKV weight and bias, no mask")
    # (No bias-less case: onnxruntime 1.20.1's CPU Attention crashes without bias.)
    att("ops_attention_mask1d", np.array([5, 8], np.int32),
        desc="mask_index 1-D key lengths [B] (right padding)")
    att("ops_attention_mask1d_start", np.array([8, 6, 2, 0], np.int32),
        desc="mask_index 1-D [2B]: end positions then start positions (left padding)")
    m2 = (rng.random((B, S)) > 0.3).astype(np.int32)
    m2[:, 0] = 1
    att("ops_attention_mask2d", m2, desc="mask_index 2-D raw 0/1 mask [B, S]")
    m3 = (rng.random((B, S, S)) > 0.3).astype(np.int32)
    m3[:, :, 0] = 1
    att("ops_attention_mask3d", m3, attrs={"mask_filter_value": -1000.0},
        desc="mask_index 3-D [B, S, S], mask_filter_value -1000")
    # (No 4-D mask case: onnxruntime's CPU Attention refuses 4-D masks.)
    att("ops_attention_unidirectional", np.array([7, 8], np.int32),
        attrs={"unidirectional": 1, "scale": 0.3},
        desc="unidirectional=1 (causal), scale 0.3, 1-D key lengths")
    hq, hv = 32, 16
    wq = (rng.standard_normal((H, 2 * hq + hv)) * 0.3).astype(np.float32)
    bq = (rng.standard_normal(2 * hq + hv) * 0.1).astype(np.float32)
    att("ops_attention_qkv_sizes", attrs={"qkv_hidden_sizes": [hq, hq, hv]}, weight=wq,
        bias_v=bq, hv=hv, desc="qkv_hidden_sizes [32, 32, 16]")

    # Forms neoc refuses (onnxruntime is not run on these).
    err = ROOT / "errors"
    err.mkdir(exist_ok=True)
    past = single("Attention", [("x", F, [B, S, H]), "w", "b", "", ("past", F, [2, B, N, 0, H // N])],
                  [("y", F, [B, S, H])], {"num_heads": N}, [init("w", w), init("b", b)])
    onnx.save(past, err / "attention_past.onnx")
    rot = single("Attention", [("x", F, [B, S, H]), "w", "b"], [("y", F, [B, S, H])],
                 {"num_heads": N, "do_rotary": 1}, [init("w", w), init("b", b)])
    onnx.save(rot, err / "attention_rotary.onnx")
    present = single("Attention", [("x", F, [B, S, H]), "w", "b"],
                     [("y", F, [B, S, H]), ("present", F, [2, B, N, S, H // N])],
                     {"num_heads": N}, [init("w", w), init("b", b)])
    onnx.save(present, err / "attention_present.onnx")
    heads = single("Attention", [("x", F, [B, S, H]), "w", "b"], [("y", F, [B, S, H])],
                   {"num_heads": 5}, [init("w", w), init("b", b)])
    onnx.save(heads, err / "attention_heads.onnx")
    m4 = single("Attention", [("x", F, [B, S, H]), "w", "b", ("mask_index", I32, [B, 1, S, S])],
                [("y", F, [B, S, H])], {"num_heads": N}, [init("w", w), init("b", b)])
    onnx.save(m4, err / "attention_mask4d.onnx")


def elementwise_cases(rng):
    B, S, H = 2, 4, 16
    x = rng.standard_normal((B, S, H)).astype(np.float32) * 2
    skip = rng.standard_normal((B, S, H)).astype(np.float32)
    gamma = (rng.random(H) + 0.5).astype(np.float32)
    beta = (rng.standard_normal(H) * 0.1).astype(np.float32)
    bias = (rng.standard_normal(H) * 0.1).astype(np.float32)
    X = ("x", F, [B, S, H])
    Y = ("y", F, [B, S, H])

    m = single("SkipLayerNormalization", [X, ("skip", F, [B, S, H]), "gamma", "beta", "bias"],
               [Y, "", "", ("sum", F, [B, S, H])], {"epsilon": 1e-5},
               [init("gamma", gamma), init("beta", beta), init("bias", bias)])
    write_case("ops_skip_layernorm", m, {"x": x, "skip": skip},
               "SkipLayerNormalization with bias and the input_skip_bias_sum output (3)")
    m = single("SkipLayerNormalization", [X, ("skip", F, [1, S, H]), "gamma"],
               [Y], {"epsilon": 1e-12}, [init("gamma", gamma)])
    write_case("ops_skip_layernorm_bcast", m, {"x": x, "skip": skip[:1]},
               "SkipLayerNormalization, skip [1, S, H] broadcast, no beta or bias, eps 1e-12")
    m = single("SkipSimplifiedLayerNormalization", [X, ("skip", F, [B, S, H]), "gamma", "bias"],
               [Y], {"epsilon": 1e-6}, [init("gamma", gamma), init("bias", bias)])
    write_case("ops_skip_simplified_layernorm", m, {"x": x, "skip": skip},
               "SkipSimplifiedLayerNormalization (RMS norm of x + skip + bias)")
    m = single("SimplifiedLayerNormalization", [X, "gamma"], [Y],
               {"epsilon": 1e-6, "axis": -1}, [init("gamma", gamma)], domain="")
    write_case("ops_simplified_layernorm", m, {"x": x},
               "SimplifiedLayerNormalization (default domain version 1, as onnxruntime "
               "registers it): RMS norm")
    m = single("LayerNormalization", [X, "gamma", "beta"], [Y], {"epsilon": 1e-5},
               [init("gamma", gamma), init("beta", beta)], domain="")
    write_case("ops_layernorm_opset14", m, {"x": x},
               "LayerNormalization in the default domain at opset 14 (onnxruntime's "
               "contrib registration, written by its optimizer's fuse_layernorm)")
    m = single("BiasGelu", [X, "bias"], [Y], {}, [init("bias", bias)])
    write_case("ops_bias_gelu", m, {"x": x}, "BiasGelu: erf GELU of x + bias")
    m = single("FastGelu", [X, "bias"], [Y], {}, [init("bias", bias)])
    write_case("ops_fast_gelu", m, {"x": x}, "FastGelu with bias (tanh approximation)")
    m = single("FastGelu", [X], [Y], {}, [])
    write_case("ops_fast_gelu_nobias", m, {"x": x}, "FastGelu without bias")
    m = single("Gelu", [X], [Y], {}, [])
    write_case("ops_gelu", m, {"x": x}, "com.microsoft Gelu (erf)")
    m = single("QuickGelu", [X], [Y], {"alpha": 1.5}, [])
    write_case("ops_quick_gelu", m, {"x": x}, "QuickGelu alpha 1.5: x * sigmoid(1.5 x)")
    # (No BiasAdd case: onnxruntime has no CPU kernel for it, so no reference.)


def embed_cases(rng):
    B, S, H, V, P = 2, 8, 16, 50, 12
    word = rng.standard_normal((V, H)).astype(np.float32)
    pos = rng.standard_normal((P, H)).astype(np.float32)
    seg = rng.standard_normal((2, H)).astype(np.float32)
    gamma = (rng.random(H) + 0.5).astype(np.float32)
    beta = (rng.standard_normal(H) * 0.1).astype(np.float32)
    ids = rng.integers(0, V, (B, S)).astype(np.int32)
    segs = rng.integers(0, 2, (B, S)).astype(np.int32)
    mask = np.ones((B, S), np.int32)
    mask[1, 5:] = 0
    inits = [init("word", word), init("pos", pos), init("seg", seg), init("gamma", gamma),
             init("beta", beta)]
    m = single("EmbedLayerNormalization",
               [("ids", I32, [B, S]), ("segment_ids", I32, [B, S]), "word", "pos", "seg",
                "gamma", "beta", ("mask", I32, [B, S])],
               [("y", F, [B, S, H]), ("mask_index", I32, [B]), ("embedding_sum", F, [B, S, H])],
               {"epsilon": 1e-12}, inits)
    write_case("ops_embed_layernorm", m, {"ids": ids, "segment_ids": segs, "mask": mask},
               "EmbedLayerNormalization: word + position + segment embeddings, mask -> "
               "mask_index (key lengths), embedding_sum output")
    pids = np.array([[3, 1, 4, 1, 5, 9, 2, 6]] * B, np.int64).astype(np.int32)
    m = single("EmbedLayerNormalization",
               [("ids", I32, [B, S]), "", "word", "pos", "", "gamma", "beta", "",
                ("position_ids", I32, [B, S])],
               [("y", F, [B, S, H]), ("mask_index", I32, [B])], {"epsilon": 1e-5},
               [init("word", word), init("pos", pos), init("gamma", gamma), init("beta", beta)])
    write_case("ops_embed_layernorm_posids", m, {"ids": ids, "position_ids": pids},
               "EmbedLayerNormalization without segment or mask, explicit position_ids")


# ---- bert_tiny (torch) -------------------------------------------------------------


def bert_tiny():
    import torch
    from torch import nn

    torch.manual_seed(700)
    V, P, H, N, L, I, S = 100, 32, 64, 4, 2, 128, 16

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
            self.o = nn.Linear(H, H)
            self.ln1 = nn.LayerNorm(H, eps=1e-12)
            self.fc1, self.fc2 = nn.Linear(H, I), nn.Linear(I, H)
            self.ln2 = nn.LayerNorm(H, eps=1e-12)

        def split(self, t):
            b, s, _ = t.shape
            return t.view(b, s, N, H // N).permute(0, 2, 1, 3)

        def forward(self, h, ext):
            q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(H // N) + ext
            p = torch.softmax(scores, dim=-1)
            c = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
            c = c.view(c.shape[0], c.shape[1], H)
            h = self.ln1(self.o(c) + h)
            f = self.fc2(nn.functional.gelu(self.fc1(h)))
            return self.ln2(f + h)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(V, H)
            self.pos = nn.Embedding(P, H)
            self.tok = nn.Embedding(2, H)
            self.ln = nn.LayerNorm(H, eps=1e-12)
            self.layers = nn.ModuleList([Layer() for _ in range(L)])
            self.register_buffer("position_ids", torch.arange(P).unsqueeze(0))

        def forward(self, input_ids, attention_mask, token_type_ids):
            s = input_ids.shape[1]
            pid = self.position_ids[:, :s]
            h = self.word(input_ids) + self.tok(token_type_ids) + self.pos(pid)
            h = self.ln(h)
            ext = attention_mask[:, None, None, :].to(torch.float32)
            ext = (1.0 - ext) * -10000.0
            for layer in self.layers:
                h = layer(h, ext)
            return h

    model = Bert().eval()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0, 0.1)
    g = torch.Generator().manual_seed(701)
    ids = torch.randint(0, V, (1, S), generator=g)
    mask = torch.ones(1, S, dtype=torch.int64)
    mask[0, 12:] = 0
    tt = torch.zeros(1, S, dtype=torch.int64)
    tt[0, 9:] = 1
    tmp = ROOT / "bert_tiny.tmp.onnx"
    torch.onnx.export(model, (ids, mask, tt), str(tmp), opset_version=14,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], do_constant_folding=True)
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
             "token_type_ids": tt.numpy()}
    base = onnx.load(tmp)
    write_case("bert_tiny_float", base, feeds,
               "HF-BERT-like encoder from torch.nn (vocab 100, hidden 64, 4 heads, 2 layers, "
               "FFN 128, seq 16, padding mask, token types), opset 14, unoptimized")

    from onnxruntime.transformers.optimizer import optimize_model
    opt = optimize_model(str(tmp), model_type="bert", num_heads=N, hidden_size=H,
                         opt_level=1)
    om = opt.model
    om.ir_version = 8
    write_case("bert_tiny_opt", om, feeds,
               "bert_tiny_float through onnxruntime.transformers.optimizer.optimize_model("
               "model_type='bert', num_heads=4, hidden_size=64, opt_level=1)")
    opt_path = ROOT / "bert_tiny_opt" / "model.onnx"
    opt2 = optimize_model(str(tmp), model_type="bert", num_heads=N, hidden_size=H,
                          opt_level=2)
    om2 = opt2.model
    om2.ir_version = 8
    write_case("bert_tiny_opt2", om2, feeds,
               "bert_tiny_float through optimize_model(..., opt_level=2): onnxruntime's "
               "extended graph optimizations too (the embedding LayerNorm becomes a "
               "SkipLayerNormalization)")

    from onnxruntime.quantization import QuantType, quantize_dynamic
    dyn = ROOT / "bert_tiny_opt_dyn.tmp.onnx"
    quantize_dynamic(str(opt_path), str(dyn), weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})
    write_case("bert_tiny_opt_dyn", onnx.load(dyn), feeds,
               "bert_tiny_opt through quantize_dynamic (i8 weights, defaults otherwise)",
               rtol=1e-3, atol=1e-3)
    tmp.unlink()
    dyn.unlink()


def main():
    rng = np.random.default_rng(900)
    attention_cases(rng)
    elementwise_cases(rng)
    embed_cases(rng)
    bert_tiny()


if __name__ == "__main__":
    main()
