#!/usr/bin/env python3
"""Regenerate the neoc test-model corpus.

    python testmodels/gen/generate.py            # everything
    python testmodels/gen/generate.py mlp ops_conv   # only the named cases
    python testmodels/gen/generate.py --large    # only the large, uncommitted cases
                                                 # (resnet50, bert_base -> large/<name>/)

Writes, relative to testmodels/:
    models/<name>/model.onnx
    models/<name>/inputs/<input>.npy      (graph inputs not backed by an initializer)
    models/<name>/expected/<output>.npy   (onnxruntime CPU, optimizations disabled, 1 thread)
    models/<name>/case.json
    models/<name>/ops.txt                 ("OpType count" lines, sorted by op type)
    errors/...
    large/<name>/...                      (same layout; only with --large; git-ignored)

References are produced with onnxruntime only. Everything is seeded, so a rerun
reproduces identical bytes (same pinned package versions, see requirements.txt).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent  # testmodels/
MODELS = ROOT / "models"
ERRORS = ROOT / "errors"
LARGE = ROOT / "large"  # too big to commit; written only with --large (testmodels/.gitignore)

RTOL = 1e-4
ATOL = 1e-5
FRAMEWORK = f"onnxruntime {ort.__version__}"

F = TensorProto.FLOAT
I64 = TensorProto.INT64


# --------------------------------------------------------------------------
# common helpers
# --------------------------------------------------------------------------

def save_npy(path: Path, arr: np.ndarray) -> None:
    arr = np.asarray(arr)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into shape (1,))
        arr = np.ascontiguousarray(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=(1, 0), allow_pickle=False)
    back = np.load(path, allow_pickle=False)
    assert back.shape == arr.shape and back.dtype == arr.dtype, (path, back.shape, arr.shape)


def real_inputs(model: onnx.ModelProto):
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def static_shape(vi: onnx.ValueInfoProto):
    if not vi.type.tensor_type.HasField("shape"):
        raise ValueError(f"{vi.name}: no shape")
    dims = vi.type.tensor_type.shape.dim
    out = []
    for d in dims:
        if not d.HasField("dim_value"):
            raise ValueError(f"{vi.name}: non-static dim {d}")
        out.append(d.dim_value)
    return out


def run_ort(model_bytes: bytes, feeds: dict) -> list:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return names, sess.run(names, feeds)


def cross_check(model: onnx.ModelProto, feeds: dict, outs: dict, name: str,
                rtol: float = RTOL, atol: float = ATOL) -> None:
    """Sanity check only: compare onnxruntime against onnx's reference evaluator.
    The references are always onnxruntime's; this just flags suspicious cases."""
    try:
        from onnx.reference import ReferenceEvaluator
        ref = ReferenceEvaluator(model)
        got = ref.run(None, feeds)
        names = [o.name for o in model.graph.output]
        worst = 0.0
        for n, g in zip(names, got):
            e = outs[n]
            g = np.asarray(g)
            if g.shape != e.shape:
                print(f"    !! cross-check {name}/{n}: shape {g.shape} vs ort {e.shape}")
                continue
            if not np.allclose(g, e, rtol=rtol, atol=atol):
                err = float(np.max(np.abs(g.astype(np.float64) - e)))
                print(f"    !! cross-check {name}/{n}: max abs diff {err:.3g} vs onnx.reference")
            if e.size:
                worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - e))))
        print(f"    cross-check vs onnx.reference: max abs diff {worst:.3g}")
    except Exception as ex:  # reference evaluator lacks/mis-handles some old-opset ops
        print(f"    (cross-check vs onnx.reference skipped: {type(ex).__name__}: {str(ex)[:100]})")


def op_counts(model: onnx.ModelProto):
    c = collections.Counter(n.op_type for n in model.graph.node)
    return sorted(c.items())


SUMMARY = []  # (name, inputs, outputs, ops, size)


def write_case(name: str, model: onnx.ModelProto, feeds: dict, description: str,
               check_reference: bool = True, rtol: float = RTOL, atol: float = ATOL,
               root: Path = MODELS) -> None:
    """Validate `model`, run onnxruntime on `feeds`, and write the case folder."""
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True,
                                                 data_prop=True)

    ins = real_inputs(model)
    assert sorted(i.name for i in ins) == sorted(feeds), (name, [i.name for i in ins], list(feeds))
    for i in ins:
        assert static_shape(i) == list(feeds[i.name].shape), (name, i.name)

    model_bytes = model.SerializeToString(deterministic=True)
    out_names, out_vals = run_ort(model_bytes, feeds)
    outs = dict(zip(out_names, out_vals))
    assert out_names == [o.name for o in model.graph.output]

    # graph outputs must carry static shapes that agree with inference and ORT
    inf_out = {o.name: o for o in inferred.graph.output}
    for o in model.graph.output:
        shp = static_shape(o)
        assert shp == list(outs[o.name].shape), (name, o.name, shp, outs[o.name].shape)
        if inf_out[o.name].type.tensor_type.HasField("shape"):
            assert static_shape(inf_out[o.name]) == shp, (name, o.name)

    for n in list(feeds) + out_names:
        assert n.replace("_", "a").isalnum() and n.isascii(), f"bad name {n!r}"

    d = root / name
    if d.exists():
        shutil.rmtree(d)
    (d / "inputs").mkdir(parents=True)
    (d / "expected").mkdir(parents=True)
    (d / "model.onnx").write_bytes(model_bytes)
    for k, v in feeds.items():
        save_npy(d / "inputs" / f"{k}.npy", v)
    for k, v in outs.items():
        save_npy(d / "expected" / f"{k}.npy", v)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    case = {"description": description, "framework": FRAMEWORK, "opset": opset,
            "rtol": rtol, "atol": atol}
    (d / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    ops = op_counts(model)
    (d / "ops.txt").write_text("".join(f"{k} {v}\n" for k, v in ops))

    size = len(model_bytes)
    print(f"== {name}  (opset {opset}, ir {model.ir_version}, {size / 1024:.1f} KiB)")
    for k, v in feeds.items():
        print(f"    in  {k}: {list(v.shape)} {v.dtype}")
    for k, v in outs.items():
        print(f"    out {k}: {list(v.shape)} {v.dtype}")
    print("    ops: " + ", ".join(f"{k}x{v}" for k, v in ops))
    if check_reference:
        cross_check(model, feeds, outs, name, rtol, atol)
    SUMMARY.append((name, [(k, list(v.shape)) for k, v in feeds.items()],
                    [(k, list(v.shape)) for k, v in outs.items()], ops, size, opset))


# --------------------------------------------------------------------------
# torch models
# --------------------------------------------------------------------------

def torch_to_onnx(module, example, opset, input_names=("input",), output_names=("output",)):
    """Legacy (TorchScript) export of `module` on the single tensor `example`."""
    import torch
    module.eval()
    import io
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module, (example,), buf,
            export_params=True,
            opset_version=opset,
            do_constant_folding=True,
            training=torch.onnx.TrainingMode.EVAL,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamo=False,
        )
    model = onnx.load_from_string(buf.getvalue())
    # Some exporters (Einsum) leave symbolic output dims: fill in torch's actual shapes.
    with torch.no_grad():
        got = module(example)
    got = got if isinstance(got, (tuple, list)) else (got,)
    for o, t in zip(model.graph.output, got):
        dims = o.type.tensor_type.shape.dim
        if any(not d.HasField("dim_value") for d in dims):
            for d, size in zip(dims, t.shape):
                d.Clear()
                d.dim_value = int(size)
    # strip doc strings (may hold source paths) so output does not depend on the machine
    model.doc_string = ""
    model.graph.doc_string = ""
    for n in model.graph.node:
        n.doc_string = ""
    return model


def torch_export(name, module, example, opset, description, input_name="input",
                 output_names=("output",), check_reference=False, **kw):
    model = torch_to_onnx(module, example, opset, (input_name,), output_names)
    arr = example.numpy()
    # float inputs are float32; integer inputs (token ids) keep their dtype (int64)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    feeds = {input_name: arr}
    write_case(name, model, feeds, description, check_reference=check_reference, **kw)


def randomize_bn(module, gen):
    import torch
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)


def gen_mlp():
    import torch
    from torch import nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(100))
    torch_export("mlp", m, x, 13, "torch MLP: Linear(64,128)-ReLU-Linear(128,10), batch 4")


def gen_lenet():
    import torch
    from torch import nn
    torch.manual_seed(1)
    m = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10),
    )
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(101))
    torch_export("lenet", m, x, 13, "torch LeNet-5 style CNN, input 2x1x28x28")


def gen_tv(name, ctor, seed, **kw):
    import torch
    torch.manual_seed(0)
    m = ctor(weights=None)
    randomize_bn(m, torch.Generator().manual_seed(seed))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 1))
    torch_export(name, m, x, 13,
                 f"torchvision {name}(weights=None), torch.manual_seed(0), BatchNorm stats/affine "
                 f"randomized (mean~N(0,0.1), var~U(0.5,1.5), weight~U(0.5,1.5), bias~N(0,0.1)), "
                 f"eval mode, constant folding on, input 1x3x224x224 N(0,1)", **kw)


def gen_resnet18():
    import torchvision
    gen_tv("resnet18", torchvision.models.resnet18, 200)


def gen_mobilenet_v2():
    import torchvision
    gen_tv("mobilenet_v2", torchvision.models.mobilenet_v2, 300)


def gen_resnet50():
    """LARGE (~98 MB): written to large/resnet50/, not committed (see testmodels/.gitignore)."""
    import torchvision
    # logits reach ~640 (16 bottlenecks with randomized BN); torch and onnxruntime already
    # differ by ~4e-4 absolute, so atol is 2e-3 (~3e-6 of the logit scale), rtol stays 1e-4
    gen_tv("resnet50", torchvision.models.resnet50, 400, root=LARGE, atol=2e-3)


def randomize_layernorm(module, gen):
    """Non-trivial LayerNorm affine parameters (default init is weight 1, bias 0)."""
    import torch
    for m in module.modules():
        if isinstance(m, torch.nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


BERT_DESC = (
    "BERT-style encoder from torch.nn modules: token Embedding(1000,128) + learned position "
    "Embedding(128,128), LayerNorm(eps 1e-12), 2 layers of [4-head self-attention written by hand "
    "(q/k/v Linear -> view/transpose -> MatMul / sqrt(32) -> Softmax(-1) -> MatMul -> "
    "transpose/reshape -> output Linear, residual + LayerNorm), FFN Linear(128,512) -> GELU (erf) "
    "-> Linear(512,128), residual + LayerNorm], pooler tanh(Linear(h[:, 0])); no attention mask; "
    "torch.manual_seed(600) default init, LayerNorm affine randomized (weight~U(0.5,1.5), "
    "bias~N(0,0.1)); input_ids int64 [1,128] uniform in [0,1000) (seed 601)")


def bert_module(hidden=128, layers=2, heads=4, inner=512):
    import math
    import torch
    from torch import nn

    class SelfAttention(nn.Module):
        def __init__(self, hidden, heads):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.q = nn.Linear(hidden, hidden)
            self.k = nn.Linear(hidden, hidden)
            self.v = nn.Linear(hidden, hidden)
            self.out = nn.Linear(hidden, hidden)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x):
            b, n, h = x.shape

            def split(t):  # [b, n, h] -> [b, heads, n, head_dim]
                return t.view(b, n, self.heads, self.head_dim).transpose(1, 2)

            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            att = torch.softmax(att, dim=-1)
            ctx = torch.matmul(att, v).transpose(1, 2).reshape(b, n, h)
            return self.ln(x + self.out(ctx))

    class FeedForward(nn.Module):
        def __init__(self, hidden, inner):
            super().__init__()
            self.fc1 = nn.Linear(hidden, inner)
            self.act = nn.GELU()  # exact (erf) form
            self.fc2 = nn.Linear(inner, hidden)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x):
            return self.ln(x + self.fc2(self.act(self.fc1(x))))

    class Encoder(nn.Module):
        def __init__(self, vocab=1000, hidden=128, seq=128, layers=2, heads=4, inner=512):
            super().__init__()
            self.tok = nn.Embedding(vocab, hidden)
            self.pos = nn.Embedding(seq, hidden)
            self.register_buffer("position_ids", torch.arange(seq).unsqueeze(0),
                                 persistent=False)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)
            self.layers = nn.ModuleList(
                nn.Sequential(SelfAttention(hidden, heads), FeedForward(hidden, inner))
                for _ in range(layers))
            self.pool = nn.Linear(hidden, hidden)

        def forward(self, input_ids):
            x = self.ln(self.tok(input_ids) + self.pos(self.position_ids))
            for layer in self.layers:
                x = layer(x)
            return x, torch.tanh(self.pool(x[:, 0]))

    torch.manual_seed(600)
    m = Encoder(hidden=hidden, layers=layers, heads=heads, inner=inner)
    randomize_layernorm(m, torch.Generator().manual_seed(602))
    ids = torch.randint(0, 1000, (1, 128), generator=torch.Generator().manual_seed(601))
    return m, ids


def gen_bert_encoder():
    m, ids = bert_module()
    torch_export("bert_encoder", m, ids, 14,
                 BERT_DESC + "; opset 14: LayerNorm exported as primitives "
                 "(ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add)",
                 input_name="input_ids", output_names=("last_hidden_state", "pooled"),
                 rtol=1e-4, atol=1e-4)


def gen_bert_encoder_opset17():
    m, ids = bert_module()
    torch_export("bert_encoder_opset17", m, ids, 17,
                 BERT_DESC + "; the same module as bert_encoder exported at opset 17: "
                 "LayerNorm exported as LayerNormalization (axis -1)",
                 input_name="input_ids", output_names=("last_hidden_state", "pooled"),
                 rtol=1e-4, atol=1e-4)


def gen_bert_base():
    """LARGE (~350 MB): the BERT-base shape for benchmarks, written to large/bert_base/."""
    m, ids = bert_module(hidden=768, layers=12, heads=12, inner=3072)
    torch_export("bert_base", m, ids, 17,
                 BERT_DESC.replace("Embedding(1000,128)", "Embedding(1000,768)")
                 .replace("Embedding(128,128)", "Embedding(128,768)")
                 .replace("2 layers of [4-head", "12 layers of [12-head")
                 .replace("sqrt(32)", "sqrt(64)")
                 .replace("Linear(128,512)", "Linear(768,3072)")
                 .replace("Linear(512,128)", "Linear(3072,768)")
                 + "; BERT-base shape (hidden 768, 12 heads, FFN 3072, 12 layers, seq 128), "
                 "opset 17",
                 input_name="input_ids", output_names=("last_hidden_state", "pooled"),
                 root=LARGE, rtol=1e-4, atol=1e-3)


def gen_ops_layernorm_gelu():
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm(37)
            self.gelu = nn.GELU()
            self.gelu_tanh = nn.GELU(approximate="tanh")

        def forward(self, x):
            return self.ln(x), self.gelu(x), self.gelu_tanh(x)

    torch.manual_seed(700)
    m = M()
    randomize_layernorm(m, torch.Generator().manual_seed(701))
    x = torch.randn(3, 5, 37, generator=torch.Generator().manual_seed(702)) * 2.5
    torch_export("ops_layernorm_gelu", m, x, 13,
                 "torch nn.LayerNorm(37) (eps 1e-5, affine randomized), nn.GELU() and "
                 "nn.GELU(approximate='tanh') on x [3,5,37] (N(0,2.5^2)), exported at opset 13, "
                 "so all three are primitives: LayerNorm = ReduceMean, Sub, Pow(2), ReduceMean, "
                 "Add eps, Sqrt, Div, Mul gamma, Add beta; GELU = x*0.5*(1+Erf(x/sqrt(2))); "
                 "tanh GELU = 0.5*x*(1+Tanh(sqrt(2/pi)*(x+0.044715*x^3)))",
                 input_name="x", output_names=("layernorm", "gelu_erf", "gelu_tanh"),
                 check_reference=True)


# --------------------------------------------------------------------------
# onnx.helper operator models
# --------------------------------------------------------------------------

class G:
    """Tiny graph builder."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inputs, self.outputs, self.inits = [], [], [], []
        self.feeds = {}
        self._n = 0

    def input(self, name, shape, data=None, scale=1.0):
        if data is None:
            data = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        data = np.asarray(data, dtype=np.float32)
        assert list(data.shape) == list(shape)
        self.inputs.append(helper.make_tensor_value_info(name, F, list(shape)))
        self.feeds[name] = data
        return name

    def init(self, name, arr, also_input=False):
        arr = np.asarray(arr)
        self.inits.append(numpy_helper.from_array(arr, name))
        if also_input:  # IR < 4: every initializer must also be a graph input
            dt = helper.np_dtype_to_tensor_dtype(arr.dtype)
            self.inputs.append(helper.make_tensor_value_info(name, dt, list(arr.shape)))
        return name

    def weight(self, name, shape, fan_in=None, **kw):
        fan_in = fan_in or int(np.prod(shape[1:])) or 1
        w = (self.rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        return self.init(name, w, **kw)

    def node(self, op, ins, outs=None, name=None, **attrs):
        self._n += 1
        if outs is None:
            outs = [f"t{self._n}"]
        elif isinstance(outs, str):
            outs = [outs]
        self.nodes.append(helper.make_node(op, ins, outs, name=name or f"{op.lower()}_{self._n}",
                                           **attrs))
        return outs[0] if len(outs) == 1 else outs

    def output(self, name):
        self.outputs.append(name)

    def build(self, name, opset, ir_version=None):
        # output shapes come from ONNX shape inference (must be fully static)
        tmp_outs = [helper.make_tensor_value_info(o, F, None) for o in self.outputs]
        graph = helper.make_graph(self.nodes, name, self.inputs, tmp_outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="neoc-testmodels")
        if ir_version is not None:
            model.ir_version = ir_version
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        vis = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
        ort_shapes = None
        final_outs = []
        for o in self.outputs:
            vi = vis[o]
            try:
                shp = static_shape(vi)
            except ValueError:
                # ONNX inference cannot see through e.g. Shape->Gather->Concat->Reshape;
                # take the (static) shape onnxruntime produces instead
                if ort_shapes is None:
                    names, vals = run_ort(model.SerializeToString(), self.feeds)
                    ort_shapes = {n: list(v.shape) for n, v in zip(names, vals)}
                shp = ort_shapes[o]
            final_outs.append(helper.make_tensor_value_info(
                o, vi.type.tensor_type.elem_type, shp))
        del model.graph.output[:]
        model.graph.output.extend(final_outs)
        return model


def gen_ops_conv():
    g = G(1001)
    x = g.input("x", [2, 6, 17, 13])
    y = g.input("y", [1, 3, 11, 9])
    g.node("Conv", [x, g.weight("w_g1", [5, 6, 3, 3]), g.weight("b_g1", [5], fan_in=1)],
           "conv_g1_asym_pad_stride2", kernel_shape=[3, 3], pads=[1, 0, 2, 1], strides=[2, 2])
    g.node("Conv", [x, g.weight("w_g3", [9, 2, 3, 3])], "conv_g3_dil2",
           group=3, dilations=[2, 2], pads=[2, 2, 2, 2])
    g.node("Conv", [x, g.weight("w_dw", [6, 1, 3, 3]), g.weight("b_dw", [6], fan_in=1)],
           "conv_depthwise", group=6, strides=[1, 2], pads=[1, 1, 1, 1])
    g.node("Conv", [y, g.weight("w_mult", [6, 1, 3, 3])], "conv_depthwise_mult2",
           group=3, pads=[0, 1, 0, 1])
    g.node("Conv", [y, g.weight("w_su", [7, 3, 4, 4])], "conv_same_upper",
           auto_pad="SAME_UPPER", strides=[2, 2])
    g.node("Conv", [y, g.weight("w_sl", [7, 3, 4, 4]), g.weight("b_sl", [7], fan_in=1)],
           "conv_same_lower", auto_pad="SAME_LOWER", strides=[2, 2])
    g.node("Conv", [y, g.weight("w_valid", [13, 3, 5, 3])], "conv_valid",
           auto_pad="VALID", strides=[2, 1])
    g.node("Conv", [x, g.weight("w_1x1", [3, 6, 1, 1]), g.weight("b_1x1", [3], fan_in=1)],
           "conv_1x1")
    g.node("Conv", [y, g.weight("w_rect", [5, 3, 3, 5]), g.weight("b_rect", [5], fan_in=1)],
           "conv_rect_stride_dil", strides=[2, 3], dilations=[1, 2], pads=[1, 2, 0, 3])
    for o in ["conv_g1_asym_pad_stride2", "conv_g3_dil2", "conv_depthwise",
              "conv_depthwise_mult2", "conv_same_upper", "conv_same_lower", "conv_valid",
              "conv_1x1", "conv_rect_stride_dil"]:
        g.output(o)
    m = g.build("ops_conv", 11)
    write_case("ops_conv", m, g.feeds,
               "Conv variants: groups 1/3/depthwise/channel-multiplier, asymmetric pads, strides, "
               "dilations, auto_pad SAME_UPPER/SAME_LOWER/VALID, with and without bias, odd shapes")


def gen_ops_winograd():
    # 3x3 stride-1 convolutions that neoc runs with Winograd F(4x4, 3x3) (>= 16 channels,
    # >= 16 output tiles), at batch 3 so the per-image transform layout is exercised;
    # 22x22 leaves partial tiles, the second conv is unpadded.
    g = G(1013)
    x = g.input("x", [3, 16, 22, 22])
    a = g.node("Conv", [x, g.weight("w_a", [24, 16, 3, 3]), g.weight("b_a", [24], fan_in=1)],
               "conv_pad1", pads=[1, 1, 1, 1])
    r = g.node("Relu", [a], "relu")
    g.node("Conv", [r, g.weight("w_b", [16, 24, 3, 3])], "conv_valid")
    for o in ["relu", "conv_valid"]:
        g.output(o)
    m = g.build("ops_winograd", 11)
    write_case("ops_winograd", m, g.feeds,
               "3x3 stride-1 convolutions on the Winograd path at batch 3 (partial tiles, "
               "padded and unpadded, bias and ReLU)")


def gen_ops_pool():
    g = G(1002)
    x = g.input("x", [2, 5, 17, 13])
    y = g.input("y", [1, 3, 11, 9])
    outs = []

    def n(op, inp, out, **a):
        g.node(op, [inp], out, **a)
        outs.append(out)

    n("MaxPool", x, "maxpool_k3_s2_p1", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    n("MaxPool", y, "maxpool_ceil", kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1)
    n("MaxPool", y, "maxpool_dil2", kernel_shape=[3, 3], dilations=[2, 2])
    n("MaxPool", x, "maxpool_asym_pad", kernel_shape=[2, 3], strides=[1, 2], pads=[0, 1, 1, 2])
    n("AveragePool", x, "avgpool_excl_pad", kernel_shape=[3, 3], strides=[2, 2],
      pads=[1, 1, 1, 1], count_include_pad=0)
    n("AveragePool", x, "avgpool_incl_pad", kernel_shape=[3, 3], strides=[2, 2],
      pads=[1, 1, 1, 1], count_include_pad=1)
    n("AveragePool", y, "avgpool_asym", kernel_shape=[3, 2], strides=[2, 1],
      pads=[1, 0, 2, 1], count_include_pad=0)
    n("AveragePool", y, "avgpool_nopad", kernel_shape=[2, 2], strides=[2, 2])
    n("GlobalAveragePool", x, "global_avgpool")
    n("GlobalMaxPool", y, "global_maxpool")
    for o in outs:
        g.output(o)
    m = g.build("ops_pool", 12)
    write_case("ops_pool", m, g.feeds,
               "MaxPool (pads, ceil_mode, dilations, asymmetric pads), AveragePool "
               "(count_include_pad 0/1, asymmetric pads), GlobalAveragePool, GlobalMaxPool")


def gen_ops_elementwise():
    g = G(1003)
    rng = g.rng
    a = rng.standard_normal([2, 3, 5, 7]).astype(np.float32) * 3
    # large-magnitude (but finite) values to exercise sigmoid/tanh/exp saturation
    a.flat[::11] = 20.0
    a.flat[5::13] = -20.0
    a = g.input("a", [2, 3, 5, 7], a)
    b = g.input("b", [5, 1])
    c = g.input("c", [1, 3, 1, 1])
    dv = (rng.uniform(0.5, 2.0, 7) * rng.choice([-1.0, 1.0], 7)).astype(np.float32)
    d = g.input("d", [7], dv)
    s = g.init("scalar", np.array(1.75, dtype=np.float32))
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Add", [a, b], "add_bcast_5x1")
    n("Sub", [a, c], "sub_bcast_chan")
    n("Mul", [a, s], "mul_scalar")
    n("Div", [a, d], "div_bcast_last")
    n("Add", [b, d], "add_bidir")
    n("Mul", [a, a], "mul_same")
    n("Div", [s, d], "div_scalar_by_vec")
    n("Relu", [a], "relu")
    n("LeakyRelu", [a], "leaky_relu", alpha=0.07)
    n("Sigmoid", [a], "sigmoid")
    n("Tanh", [a], "tanh")
    lo = g.init("clip_min", np.array(-1.5, dtype=np.float32))
    hi = g.init("clip_max", np.array(2.0, dtype=np.float32))
    n("Clip", [a, lo, hi], "clip_min_max")
    n("Clip", [a, "", hi], "clip_max_only")
    n("Sqrt", [g.node("Abs", [a])], "sqrt_abs")
    n("Exp", [a], "exp")
    n("Abs", [a], "abs")
    n("Neg", [a], "neg")
    for o in outs:
        g.output(o)
    m = g.build("ops_elementwise", 13)
    write_case("ops_elementwise", m, g.feeds,
               "Add/Sub/Mul/Div with numpy broadcasting ([2,3,5,7] with [5,1], [1,3,1,1], scalar, "
               "[7]; [5,1]+[7]), Relu, LeakyRelu(0.07), Sigmoid, Tanh, Clip(min,max) and "
               "Clip(max only) as inputs, Sqrt, Exp, Abs, Neg; inputs contain +-20")


def gen_ops_linear():
    g = G(1004)
    A = g.input("a", [4, 6])
    At = g.input("a_t", [6, 4])
    X4 = g.input("x4", [2, 3, 5, 7])
    X3 = g.input("x3", [3, 5, 7])
    Y3 = g.input("y3", [3, 7, 4])
    V = g.input("v7", [7])
    U = g.input("u5", [5])
    Xb = g.input("xb", [2, 1, 5, 7])
    B = g.weight("b_nk", [5, 6])
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Gemm", [A, B, g.weight("c_n", [5], fan_in=1)], "gemm_tb_c_n",
      transB=1, alpha=0.5, beta=2.0)
    n("Gemm", [A, B, g.weight("c_1n", [1, 5], fan_in=1)], "gemm_tb_c_1n",
      transB=1, alpha=0.5, beta=2.0)
    n("Gemm", [A, B, g.weight("c_mn", [4, 5], fan_in=1)], "gemm_tb_c_mn",
      transB=1, alpha=0.5, beta=2.0)
    n("Gemm", [At, g.weight("b_kn", [6, 5])], "gemm_ta_no_c", transA=1)
    n("Gemm", [At, B, g.weight("c_m1", [4, 1], fan_in=1)], "gemm_ta_tb_c_m1",
      transA=1, transB=1, beta=0.25)
    n("MatMul", [A, g.weight("w_mm", [6, 5])], "matmul_2d")
    n("MatMul", [X4, g.weight("w_b", [7, 4])], "matmul_batched_4d_2d")
    n("MatMul", [X3, Y3], "matmul_batched_3d_3d")
    n("MatMul", [X3, V], "matmul_vec_right")
    n("MatMul", [U, X3], "matmul_vec_left")
    n("MatMul", [Xb, Y3], "matmul_bcast_batch")
    for o in outs:
        g.output(o)
    m = g.build("ops_linear", 13)
    write_case("ops_linear", m, g.feeds,
               "Gemm (transA/transB, alpha/beta, C broadcast [N], [1,N], [M,1], [M,N], no C), "
               "MatMul 2-D, batched [2,3,5,7]x[7,4], [3,5,7]x[3,7,4], 1-D operands, batch broadcast")


def gen_ops_blocked():
    """Convolutions that -O3 moves to the blocked channel layout (NCHW16c): pointwise
    (stride 1 with bias+Relu, stride 2 unbiased), depthwise (3x3 +bias+Clip, 5x5 stride
    2, asymmetric pads), a residual Add fused as an epilogue input, a graph output taken
    from inside the blocked region; batch 2, odd image sizes, channel counts that leave
    a tail of one 16-lane block in the register tiles."""
    g = G(1021)
    X = g.input("x", [2, 32, 9, 11])
    g.node("Conv", [X, g.weight("w_pw1", [48, 32, 1, 1]), g.weight("b_pw1", [48], fan_in=1)],
           "pw1")
    g.node("Relu", ["pw1"], "a")
    g.node("Conv", ["a", g.weight("w_dw1", [48, 1, 3, 3]), g.weight("b_dw1", [48], fan_in=1)],
           "dw1", group=48, pads=[1, 1, 1, 1])
    lo = g.init("clip_lo", np.array(0.0, dtype=np.float32))
    hi = g.init("clip_hi", np.array(1.0, dtype=np.float32))
    g.node("Clip", ["dw1", lo, hi], "dw_clip")
    g.node("Conv", ["dw_clip", g.weight("w_dw2", [48, 1, 5, 5])], "dw_s2", group=48,
           strides=[2, 2], pads=[2, 2, 2, 2])
    g.node("Conv", [X, g.weight("w_pw_s2", [32, 32, 1, 1])], "pw_s2", strides=[2, 2])
    g.node("Conv", ["dw_s2", g.weight("w_pw2", [32, 48, 1, 1]), g.weight("b_pw2", [32], fan_in=1)],
           "pw2")
    g.node("Add", ["pw2", "pw_s2"], "residual")
    g.node("Relu", ["residual"], "out")
    g.node("Conv", ["a", g.weight("w_dw3", [48, 1, 3, 3])], "dw_asym", group=48,
           pads=[0, 1, 1, 0])
    for o in ["out", "dw_clip", "dw_asym"]:
        g.output(o)
    m = g.build("ops_blocked", 13)
    write_case("ops_blocked", m, g.feeds,
               "the convolutions -O3 runs in the blocked channel layout: pointwise 32->48 "
               "+bias+Relu, pointwise stride 2, depthwise 3x3 +bias+Clip(0,1), depthwise 5x5 "
               "stride 2, depthwise asymmetric pads, pointwise 48->32 +bias with a residual "
               "Add and Relu; batch 2, 9x11 images; an output from inside the blocked region")


def gen_rnn_tagger():
    """torch recurrent layers as exported to ONNX LSTM/GRU/RNN ops."""
    import torch
    from torch import nn
    torch.manual_seed(7)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True)
            self.gru = nn.GRU(64, 24, batch_first=True)
            self.rnn = nn.RNN(16, 8, nonlinearity="relu")
            self.head = nn.Linear(24 + 8, 5)

        def forward(self, x):
            a, _ = self.lstm(x)
            b, _ = self.gru(a)
            c, _ = self.rnn(x.transpose(0, 1))
            return self.head(torch.cat([b, c.transpose(0, 1)], dim=-1))

    x = torch.randn(2, 12, 16, generator=torch.Generator().manual_seed(102))
    torch_export("rnn_tagger", Tagger().eval(), x, 14,
                 "torch sequence tagger: 2-layer bidirectional LSTM(16,32, batch_first) -> "
                 "GRU(64,24, batch_first), RNN(16,8, relu, seq-first) on the input, concat, "
                 "Linear(32,5); input 2x12x16", rtol=1e-4, atol=1e-5)


def gen_ops_einsum():
    """torch.einsum spellings as exported to ONNX Einsum."""
    import torch
    from torch import nn
    torch.manual_seed(8)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(6, 5))
            self.v = nn.Parameter(torch.randn(7))

        def forward(self, q):
            k = q * 0.5 + 1.0
            scores = torch.einsum("bhqd,bhkd->bhqk", q, k)          # attention scores
            proj = torch.einsum("bhqd,dk->bhqk", q, self.w)          # batched x weight
            outer = torch.einsum("i,j->ij", self.v, q[0, 0, 0, :])   # outer product
            diag = torch.einsum("bhii->bhi", scores)                 # diagonal
            total = torch.einsum("bhqk->bk", proj)                   # sums
            return scores, proj, outer, diag, total

    q = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(103))
    torch_export("ops_einsum", M().eval(), q, 14,
                 "torch.einsum exported as ONNX Einsum: bhqd,bhkd->bhqk (attention scores), "
                 "bhqd,dk->bhqk (weight), i,j->ij (outer), bhii->bhi (diagonal), bhqk->bk "
                 "(sums); q 2x3x4x6",
                 input_name="q", output_names=("scores", "proj", "outer", "diag", "total"),
                 rtol=1e-4, atol=1e-5)


def gen_spatial_transformer():
    """torch spatial transformer: affine_grid + grid_sample (GridSample op)."""
    import torch
    from torch import nn
    import torch.nn.functional as F
    torch.manual_seed(9)

    class STN(nn.Module):
        def __init__(self):
            super().__init__()
            self.loc = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6))

        def forward(self, x):
            theta = self.loc(x).view(-1, 2, 3) * 0.3 + torch.tensor(
                [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            grid = F.affine_grid(theta, [2, 3, 7, 9], align_corners=False)
            a = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False)
            b = F.grid_sample(x, grid * 1.3, mode="bicubic", padding_mode="reflection",
                              align_corners=True)
            c = F.grid_sample(x, grid * 1.2, mode="nearest", padding_mode="border",
                              align_corners=False)
            return a + b + c

    x = torch.randn(2, 3, 10, 12, generator=torch.Generator().manual_seed(104))
    torch_export("spatial_transformer", STN().eval(), x, 20,
                 "torch spatial transformer: conv localisation net -> theta, affine_grid, "
                 "grid_sample bilinear/zeros, bicubic/reflection (align_corners), "
                 "nearest/border; input 2x3x10x12, output 2x3x7x9", rtol=1e-4, atol=1e-4)


def gen_ops_tiles():
    """Shapes that hit every tile kind of the register-tiled GEMM (full 6x32 tiles, row
    tails, column tails of 8/4/1 lanes, corners), each convolution algorithm (GEMM with
    and without im2col, depthwise interior/border, direct) and the vector softmax."""
    g = G(1017)
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    A = g.input("a", [13, 70])
    n("MatMul", [A, g.weight("w77", [70, 77])], "matmul_13x70x77")
    n("Gemm", [g.input("a_t", [70, 13]), g.weight("w45", [70, 45]),
               g.weight("c45", [45], fan_in=1)], "gemm_ta_13x70x45", transA=1, alpha=0.5, beta=2.0)
    n("MatMul", [g.input("xb", [2, 3, 13, 40]), g.input("yb", [3, 40, 33])], "matmul_bcast")
    n("MatMul", [g.input("xp", [2, 50, 300]), g.input("yp", [2, 300, 230])], "matmul_runtime_packed")
    g.node("MatMul", [g.input("a7", [7, 70]), g.weight("w48", [70, 48])], "mm48")
    g.node("Add", ["mm48", g.weight("bias48", [48], fan_in=1)], "mm48_b")
    n("Relu", ["mm48_b"], "matmul_bias_relu")
    g.node("Conv", [g.input("x_dense", [1, 5, 11, 13]), g.weight("w_dense", [14, 5, 3, 3]),
                    g.weight("b_dense", [14], fan_in=1)], "conv_dense_raw", pads=[1, 1, 1, 1])
    n("Relu", ["conv_dense_raw"], "conv_dense_relu")
    n("Conv", [g.input("x_grp", [2, 6, 9, 10]), g.weight("w_grp", [12, 3, 3, 3])],
      "conv_grouped_s2_asym", group=2, strides=[2, 2], pads=[1, 0, 2, 1])
    n("Conv", [g.input("x_1x1", [1, 16, 7, 9]), g.weight("w_1x1", [20, 16, 1, 1]),
               g.weight("b_1x1", [20], fan_in=1)], "conv_1x1")
    n("Conv", [g.input("x_dil", [1, 4, 12, 12]), g.weight("w_dil", [8, 4, 3, 3])],
      "conv_dilated", dilations=[2, 2], pads=[2, 2, 2, 2])
    n("Conv", [g.input("x_dw", [1, 8, 15, 14]), g.weight("w_dw", [8, 1, 3, 3]),
               g.weight("b_dw", [8], fan_in=1)], "depthwise_s2", group=8, strides=[2, 2],
      pads=[1, 1, 1, 1])
    n("Conv", [g.input("x_dwm", [1, 4, 10, 11]), g.weight("w_dwm", [8, 1, 3, 3])],
      "depthwise_mult2_dil2", group=4, dilations=[2, 2], pads=[2, 1, 2, 1])
    n("Conv", [g.input("x_1d", [1, 6, 40]), g.weight("w_1d", [10, 6, 5])], "conv_1d",
      pads=[2, 2])
    g.node("Conv", [g.input("x_wino", [1, 16, 9, 11]), g.weight("w_wino", [16, 16, 3, 3]),
                    g.weight("b_wino", [16], fan_in=1)], "wino_raw", pads=[0, 1, 1, 0])
    n("Relu", ["wino_raw"], "winograd_asym_pads_relu")
    n("Conv", [g.input("x_wino_odd", [2, 17, 7, 13]), g.weight("w_wino_odd", [20, 17, 3, 3])],
      "winograd_odd_sizes_batch2", pads=[1, 1, 1, 1])
    n("Softmax", [g.input("s37", [3, 37])], "softmax_37", axis=-1)
    n("LogSoftmax", [g.input("s50", [2, 5, 50])], "log_softmax_50", axis=-1)
    n("Softmax", [g.input("s_mid", [2, 37, 3])], "softmax_axis1", axis=1)
    for o in outs:
        g.output(o)
    m = g.build("ops_tiles", 13)
    write_case("ops_tiles", m, g.feeds,
               "register-tiled GEMM edges (MatMul 13x70x77, Gemm transA 13x70x45 alpha/beta/C, "
               "batch-broadcast MatMul, batched runtime MatMul 2x50x300x230 (B packed by a "
               "stage), MatMul+bias+Relu), Conv as GEMM (3x3 pad 1 +bias+Relu, "
               "grouped stride 2 asymmetric pads, 1x1 direct, dilation 2, 1-D), Winograd 3x3 "
               "(asymmetric pads + bias + Relu; odd output sizes, batch 2), depthwise "
               "(stride 2; multiplier 2 dilation 2), Softmax/LogSoftmax over rows of 37 and 50, "
               "Softmax over a middle axis")


def gen_ops_shape():
    g = G(1005)
    x = g.input("x", [2, 3, 5, 7])
    y = g.input("y", [2, 4, 5, 7])
    z = g.input("z", [2, 1, 5, 7])
    w = g.input("w", [2, 3, 5, 2])
    v = g.input("v", [2, 3, 5, 4])
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Flatten", [x], "flatten_axis0", axis=0)
    n("Flatten", [x], "flatten_axis1", axis=1)
    n("Flatten", [x], "flatten_axis2", axis=2)
    n("Reshape", [x, g.init("shape_0_m1_7", np.array([0, -1, 7], dtype=np.int64))],
      "reshape_zero_neg1")
    n("Transpose", [x], "transpose_0231", perm=[0, 2, 3, 1])
    n("Transpose", [x], "transpose_3102", perm=[3, 1, 0, 2])
    n("Concat", [x, y, z], "concat_axis1", axis=1)
    n("Concat", [x, w, v], "concat_axis_neg1", axis=-1)
    n("Softmax", [x], "softmax_axis_neg1", axis=-1)
    n("Softmax", [x], "softmax_axis1", axis=1)
    n("Identity", [x], "identity")
    g.node("Dropout", [x], ["dropout"], name="dropout_inference")
    outs.append("dropout")
    cst = g.node("Constant", [], "const_vec",
                 value=numpy_helper.from_array(
                     g.rng.standard_normal(7).astype(np.float32), "const_vec_value"))
    n("Add", [x, cst], "add_constant")
    # x.view(x.size(0), -1) as the legacy torch exporter spells it
    shp = g.node("Shape", [x])
    d0 = g.node("Gather", [shp, g.init("idx0", np.array(0, dtype=np.int64))], axis=0)
    d0u = g.node("Unsqueeze", [d0, g.init("axes0", np.array([0], dtype=np.int64))])
    tgt = g.node("Concat", [d0u, g.init("neg1", np.array([-1], dtype=np.int64))], axis=0)
    n("Reshape", [x, tgt], "view_batch_flat")
    for o in outs:
        g.output(o)
    m = g.build("ops_shape", 13)
    write_case("ops_shape", m, g.feeds,
               "Flatten (axis 0/1/2), Reshape with 0 and -1, Transpose, Concat (axis 1, axis -1, "
               "3 inputs), Softmax (axis -1, 1), Identity, Dropout (inference), Constant, "
               "Shape->Gather->Unsqueeze->Concat->Reshape (torch view(x.size(0), -1))")


def bn_params(g, prefix, c, **kw):
    r = g.rng
    return [
        g.init(f"{prefix}_scale", r.uniform(0.5, 1.5, c).astype(np.float32), **kw),
        g.init(f"{prefix}_bias", (r.standard_normal(c) * 0.1).astype(np.float32), **kw),
        g.init(f"{prefix}_mean", (r.standard_normal(c) * 0.1).astype(np.float32), **kw),
        g.init(f"{prefix}_var", r.uniform(0.5, 1.5, c).astype(np.float32), **kw),
    ]


def gen_ops_bn():
    g = G(1006)
    x = g.input("x", [2, 3, 11, 9])
    y = g.input("y", [2, 5, 7, 3])
    c = g.node("Conv", [x, g.weight("w", [5, 3, 3, 3]), g.weight("b", [5], fan_in=1)],
               pads=[1, 1, 1, 1])
    g.node("BatchNormalization", [c] + bn_params(g, "bn1", 5), "conv_bn", epsilon=1e-3)
    g.node("BatchNormalization", [y] + bn_params(g, "bn2", 5), "bn", epsilon=1e-3)
    g.output("conv_bn")
    g.output("bn")
    m = g.build("ops_bn", 15)
    write_case("ops_bn", m, g.feeds,
               "Conv followed by BatchNormalization (epsilon 1e-3, random stats) and a standalone "
               "BatchNormalization on [2,5,7,3]")


def gen_ops_opset7():
    g = G(1007)
    x = g.input("x", [2, 3, 4])
    z = g.input("z", [2, 3, 5, 4])
    a = g.input("a", [3, 4])
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Softmax", [x], "softmax_axis1_legacy", axis=1)
    n("Clip", [x], "clip_attr", min=-0.5, max=0.5)
    n("Unsqueeze", [x], "unsqueeze_attr", axes=[0, 3])
    r = g.node("Reshape", [x, g.init("shape_4_m1", np.array([4, -1], dtype=np.int64),
                                      also_input=True)], "reshape_init")
    outs.append(r)
    n("BatchNormalization", [z] + bn_params(g, "bn", 3, also_input=True), "batchnorm",
      epsilon=1e-5)
    n("Dropout", [x], "dropout_ratio", ratio=0.3)
    n("Gemm", [a, g.weight("gemm_b", [4, 5], also_input=True),
               g.weight("gemm_c", [5], fan_in=1, also_input=True)], "gemm",
      alpha=1.0, beta=1.0)
    n("Gemm", [r, g.weight("gemm2_b", [5, 6], also_input=True),
               g.weight("gemm2_c", [1, 5], fan_in=1, also_input=True)], "gemm_transb",
      transB=1, alpha=0.5, beta=1.5)
    for o in outs:
        g.output(o)
    m = g.build("ops_opset7", 7, ir_version=3)
    write_case("ops_opset7", m, g.feeds,
               "opset 7 / IR 3 (initializers are also listed as graph inputs; only x, z, a get "
               "input files): Softmax axis=1 on [2,3,4] (legacy coerce-to-2D), Clip with min/max "
               "attributes, Unsqueeze with axes attribute, Reshape with initializer shape, "
               "BatchNormalization-7, Dropout with ratio attribute, Gemm-7")


def gen_ops_opset11():
    g = G(1011)
    x = g.input("x", [2, 3, 4])
    y = g.input("y", [2, 5, 4])
    s = g.input("s", [2, 1, 3, 1])
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Softmax", [x], "softmax_axis1_legacy", axis=1)
    lo = g.init("clip_min", np.array(-0.5, dtype=np.float32))
    hi = g.init("clip_max", np.array(0.75, dtype=np.float32))
    n("Clip", [x, lo, hi], "clip_min_max")
    n("Clip", [x, lo], "clip_min_only")
    u = g.node("Unsqueeze", [x], "unsqueeze_neg_axes", axes=[1, -1])
    outs.append(u)
    n("Squeeze", [u], "squeeze_axes", axes=[1, 4])
    n("Squeeze", [s], "squeeze_neg_axes", axes=[-1, 1])
    n("Concat", [x, y], "concat_neg_axis", axis=-2)
    for o in outs:
        g.output(o)
    m = g.build("ops_opset11", 11)
    write_case("ops_opset11", m, g.feeds,
               "opset 11: Softmax axis=1 on [2,3,4] (legacy coerce-to-2D), Clip with min/max "
               "inputs and min only, Unsqueeze/Squeeze with (negative) axes attributes, Concat "
               "with negative axis")


def gen_ops_reduce_common(g, opset):
    """Reduce variants; for opset >= 18 all axes are inputs, before that only ReduceSum's."""
    x = g.input("x", [2, 3, 5, 7])
    y = g.input("y", [4, 9, 5])
    outs = []
    k = [0]

    def n(op, inp, out, axes=None, **attrs):
        ins = [inp]
        if axes is not None and (op == "ReduceSum" or opset >= 18):
            k[0] += 1
            ins.append(g.init(f"axes_{k[0]}", np.array(axes, dtype=np.int64)))
        elif axes is not None:
            attrs["axes"] = axes
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("ReduceMean", x, "reducemean_axis_neg1_keep", axes=[-1], keepdims=1)
    n("ReduceMean", x, "reducemean_axes_1_2_nokeep", axes=[1, 2], keepdims=0)
    n("ReduceMean", x, "reducemean_all_keep", keepdims=1)
    n("ReduceMean", y, "reducemean_3d_last_nokeep", axes=[-1], keepdims=0)
    n("ReduceSum", x, "reducesum_axes_neg2_1_keep", axes=[-2, 1], keepdims=1)
    n("ReduceSum", x, "reducesum_axis0_nokeep", axes=[0], keepdims=0)
    n("ReduceSum", x, "reducesum_all_nokeep_scalar", keepdims=0)
    # noop_with_empty_axes=1 uses an empty axes tensor: onnxruntime 1.20.1 fails with the
    # axes input omitted ("Reduction on all axes, output size should be 1")
    n("ReduceSum", x, "reducesum_empty_axes_noop", axes=[], keepdims=1, noop_with_empty_axes=1)
    n("ReduceSum", y, "reducesum_empty_axes_all", axes=[], keepdims=1)
    n("ReduceMax", x, "reducemax_axes_neg1_neg3_keep", axes=[-1, -3], keepdims=1)
    n("ReduceMax", x, "reducemax_axis2_nokeep", axes=[2], keepdims=0)
    n("ReduceMax", y, "reducemax_all_keep", keepdims=1)
    n("ReduceMin", x, "reducemin_axis1_keep", axes=[1])
    n("ReduceMin", x, "reducemin_axes_0_3_nokeep", axes=[0, 3], keepdims=0)
    n("ReduceMin", y, "reducemin_axes_0_neg1_keep", axes=[0, -1], keepdims=1)
    if opset >= 18:
        n("ReduceMean", x, "reducemean_empty_axes_noop", axes=[], keepdims=0,
          noop_with_empty_axes=1)
        n("ReduceMax", y, "reducemax_empty_axes_noop", axes=[], keepdims=0,
          noop_with_empty_axes=1)
        n("ReduceMin", x, "reducemin_noaxes_all_nokeep_scalar", keepdims=0)
    for o in outs:
        g.output(o)


def gen_ops_reduce():
    g = G(1030)
    gen_ops_reduce_common(g, 13)
    m = g.build("ops_reduce", 13)
    write_case("ops_reduce", m, g.feeds,
               "opset 13: ReduceMean/ReduceMax/ReduceMin with axes attribute, ReduceSum with axes "
               "input; keepdims 0/1 (default 1), negative and multiple axes, no axes (reduce all, "
               "incl. a 0-d scalar output), ReduceSum with an empty axes tensor and "
               "noop_with_empty_axes=1 (identity) or 0 (reduce all); x [2,3,5,7], y [4,9,5]. "
               "(noop_with_empty_axes=1 with the axes input omitted is valid ONNX but onnxruntime "
               "1.20.1 fails on it, so it is not here)")


def gen_ops_reduce18():
    g = G(1031)
    gen_ops_reduce_common(g, 18)
    m = g.build("ops_reduce18", 18)
    write_case("ops_reduce18", m, g.feeds,
               "opset 18: the ops_reduce variants with axes as an input for all of ReduceMean/"
               "ReduceSum/ReduceMax/ReduceMin, plus noop_with_empty_axes=1 with an empty axes "
               "tensor for ReduceMean and ReduceMax (identity, keepdims 0 is then irrelevant), and "
               "ReduceMin with no axes input over all axes to a 0-d scalar; x [2,3,5,7], "
               "y [4,9,5]")


def gen_ops_pad():
    g = G(1040)
    x = g.input("x", [2, 3, 7, 5])
    outs = []
    k = [0]

    def pads(p):
        k[0] += 1
        return g.init(f"pads_{k[0]}", np.array(p, dtype=np.int64))

    def val(v):
        k[0] += 1
        return g.init(f"value_{k[0]}", np.array(v, dtype=np.float32))

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    # pads layout: [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
    n("Pad", [x, pads([1, 2, 0, 3, 0, 1, 2, 1]), val(1.5)], "pad_const_all_dims")
    n("Pad", [x, pads([0, 0, 1, 2, 0, 0, 2, 1])], "pad_const_default_zero", mode="constant")
    n("Pad", [x, pads([0, 0, 2, 1, 0, 0, 1, 3])], "pad_reflect", mode="reflect")
    n("Pad", [x, pads([0, 1, 1, 2, 0, 0, 3, 1])], "pad_edge", mode="edge")
    n("Pad", [x, pads([0, -1, -2, 1, 0, 0, 1, -2]), val(-0.75)], "pad_negative_crop")
    n("Pad", [x, pads([-1, 0, 0, 0, 0, -1, -3, -1])], "pad_negative_only")
    # Pad -> Conv / pool chains (TF-style explicit padding)
    w = g.weight("w_conv", [4, 3, 3, 3])
    b = g.weight("b_conv", [4], fan_in=1)
    p = g.node("Pad", [x, pads([0, 0, 1, 2, 0, 0, 2, 1])])
    n("Conv", [p, w, b], "pad_conv")
    p = g.node("Pad", [x, pads([0, 0, 1, 1, 0, 0, 1, 1]), val(0.0)], mode="constant")
    n("Conv", [p, w, b], "pad_conv_with_pads", pads=[1, 0, 0, 1], strides=[2, 1])
    p = g.node("Pad", [x, pads([0, 0, 1, 1, 0, 0, 1, 1]), val(0.5)])
    n("Conv", [p, w], "pad_nonzero_conv")
    p = g.node("Pad", [x, pads([0, 0, 1, 1, 0, 0, 1, 1])], mode="reflect")
    n("Conv", [p, w, b], "pad_reflect_conv")
    r = g.node("Relu", [x])
    p = g.node("Pad", [r, pads([0, 0, 1, 1, 0, 0, 1, 1])])
    n("MaxPool", [p], "relu_pad_maxpool", kernel_shape=[3, 3], strides=[2, 2])
    p = g.node("Pad", [x, pads([0, 0, 0, 1, 0, 0, 1, 1])])
    n("MaxPool", [p], "pad_maxpool", kernel_shape=[2, 3], strides=[2, 2])
    p = g.node("Pad", [x, pads([0, 0, 1, 1, 0, 0, 1, 1])])
    n("AveragePool", [p], "pad_avgpool", kernel_shape=[3, 3], strides=[1, 2])
    for o in outs:
        g.output(o)
    m = g.build("ops_pad", 13)
    write_case("ops_pad", m, g.feeds,
               "opset 13 Pad (pads/constant_value inputs) on NCHW x [2,3,7,5]: constant 1.5 on all "
               "4 dims, constant default 0, reflect, edge (incl. channel dim), negative pads "
               "(crop, mixed with positive), and Pad->op chains as TF exports emit: zero Pad->Conv "
               "(foldable), zero Pad->Conv with its own pads and stride (foldable, pads add up), "
               "Pad 0.5->Conv and reflect Pad->Conv (not foldable), Relu->zero Pad->MaxPool "
               "(foldable: input >= 0), zero Pad->MaxPool on signed input (NOT foldable into "
               "MaxPool pads), zero Pad->AveragePool (== AveragePool pads with "
               "count_include_pad=1)")


def gen_ops_pad18():
    g = G(1041)
    x = g.input("x", [2, 3, 7, 5])
    outs = []
    k = [0]

    def i64(a):
        k[0] += 1
        return g.init(f"i64_{k[0]}", np.array(a, dtype=np.int64))

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Pad", [x, i64([1, 0, 2, 1, 0, 2, 0, 3])], "pad_no_axes_input")
    n("Pad", [x, i64([1, 2, 3, 0]), g.init("v1", np.array(-2.0, dtype=np.float32)),
              i64([2, 3])], "pad_axes_2_3_const")
    n("Pad", [x, i64([2, 1]), "", i64([-1])], "pad_axis_neg1_reflect", mode="reflect")
    n("Pad", [x, i64([1, 0, 0, 2]), "", i64([1, -2])], "pad_axes_1_neg2_edge", mode="edge")
    n("Pad", [x, i64([-1, 1, 2, -2]), "", i64([3, 2])], "pad_axes_neg_pads")
    p = g.node("Pad", [x, i64([1, 1, 1, 1]), "", i64([2, 3])])
    n("Conv", [p, g.weight("w", [4, 3, 3, 3]), g.weight("b", [4], fan_in=1)], "pad_axes_conv")
    for o in outs:
        g.output(o)
    m = g.build("ops_pad18", 18)
    write_case("ops_pad18", m, g.feeds,
               "opset 18 Pad with the axes input on x [2,3,7,5]: no axes input (all 4 dims), axes "
               "[2,3] with constant -2, axis -1 reflect, axes [1,-2] edge, negative pads (crop) "
               "on axes [3,2], zero Pad on axes [2,3] -> Conv")


def gen_ops_pad19():
    g = G(1042)
    x = g.input("x", [2, 3, 7, 5])
    outs = []
    k = [0]

    def i64(a):
        k[0] += 1
        return g.init(f"i64_{k[0]}", np.array(a, dtype=np.int64))

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    n("Pad", [x, i64([0, 0, 2, 1, 0, 0, 1, 3])], "pad_wrap", mode="wrap")
    n("Pad", [x, i64([3, 0, 1, 4]), "", i64([-2, -1])], "pad_wrap_axes", mode="wrap")
    n("Pad", [x, i64([0, 1, 1, 0, 1, 0, 0, 2])], "pad_wrap_channels", mode="wrap")
    n("Pad", [x, i64([0, 0, 2, 1, 0, 0, 1, 3]), g.init("v", np.array(0.25, dtype=np.float32))],
      "pad_const")
    for o in outs:
        g.output(o)
    m = g.build("ops_pad19", 19)
    write_case("ops_pad19", m, g.feeds,
               "opset 19 Pad mode=wrap (new in 19) on x [2,3,7,5]: spatial pads, with axes input "
               "[-2,-1], on the channel dim, and a constant-mode Pad-19")


def gen_ops_where_expand():
    g = G(1050)
    r = g.rng
    # half-integer values so Equal has true and false hits
    a = g.input("a", [2, 3, 5, 7], np.round(r.standard_normal([2, 3, 5, 7]) * 2) / 2)
    b = g.input("b", [5, 7], np.round(r.standard_normal([5, 7]) * 2) / 2)
    c = g.input("c", [5, 1])
    d = g.input("d", [1, 3, 1, 7])
    e = g.input("e", [2, 1, 5, 1])
    v = g.input("v", [3, 1])
    mask = (r.integers(0, 3, [2, 3, 1, 7]) * r.choice([-1.0, 1.0], [2, 3, 1, 7]))
    mk = g.input("mask", [2, 3, 1, 7], mask)
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    zero = g.init("zero", np.array(0.0, dtype=np.float32))
    n("Where", [g.node("Equal", [a, b]), a, g.node("Mul", [b, g.init("ten", np.array(
        10.0, dtype=np.float32))])], "where_equal")
    n("Where", [g.node("Less", [a, b]), a, b], "where_less_min")
    n("Where", [g.node("Greater", [a, zero]), a,
                g.node("Mul", [a, g.init("slope", np.array(0.1, dtype=np.float32))])],
      "where_greater_leaky")
    n("Where", [g.node("Greater", [c, zero]), a, g.init("minus1", np.array(-1.0, np.float32))],
      "where_bcast_cond_scalar_y")
    n("Where", [g.node("Less", [c, zero]), d, e], "where_bcast_all_three")
    n("Where", [g.node("Cast", [mk], to=TensorProto.BOOL), a, b], "where_cast_bool_cond")
    n("Expand", [v, g.init("shape_2435", np.array([2, 4, 3, 5], dtype=np.int64))],
      "expand_rank4")
    n("Expand", [c, g.init("shape_2117", np.array([2, 1, 1, 7], dtype=np.int64))],
      "expand_bidir_ones")
    n("Expand", [a, g.init("shape_1", np.array([1], dtype=np.int64))], "expand_noop")
    n("Add", [g.node("Expand", [b, g.init("shape_315x", np.array([3, 1, 5, 7], np.int64))]), d],
      "expand_add")
    scaled = g.node("Mul", [a, g.init("k37", np.array(3.7, dtype=np.float32))])
    n("Cast", [g.node("Cast", [scaled], to=TensorProto.INT64)], "cast_f32_i64_f32",
      to=TensorProto.FLOAT)
    n("Cast", [g.node("Cast", [scaled], to=TensorProto.INT32)], "cast_f32_i32_f32",
      to=TensorProto.FLOAT)
    n("Cast", [g.node("Greater", [a, b])], "cast_bool_f32", to=TensorProto.FLOAT)
    n("Cast", [g.node("Equal", [g.node("Cast", [a], to=TensorProto.INT64),
                                g.node("Cast", [b], to=TensorProto.INT64)])],
      "cast_equal_i64_f32", to=TensorProto.FLOAT)
    for o in outs:
        g.output(o)
    m = g.build("ops_where_expand", 13)
    write_case("ops_where_expand", m, g.feeds,
               "opset 13: Where fed by Equal/Less/Greater (bool) with broadcasting ([2,3,5,7] vs "
               "[5,7], scalar), Where with broadcast condition [5,1] and scalar Y, three-way "
               "broadcast Where([5,1],[1,3,1,7],[2,1,5,1]), Where on Cast(float->bool) of a mask "
               "with 0/+-1/+-2; Expand [3,1]->[2,4,3,5], bidirectional Expand [5,1] by "
               "[2,1,1,7], Expand by [1] (no-op), Expand->Add; Cast float->int64/int32->float "
               "(truncation toward zero), bool->float, Equal on int64. a and b are "
               "half-integers; all outputs float32")


def gen_ops_fusion():
    g = G(1060)
    x = g.input("x", [2, 4, 13, 11])
    a = g.input("a", [5, 9])
    s = g.input("s", [2, 5, 9])
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    def f32(name, v):
        return g.init(name, np.array(v, dtype=np.float32))

    # Conv + separate bias Add + Relu
    c = g.node("Conv", [x, g.weight("w_car", [6, 4, 3, 3])], pads=[1, 1, 1, 1])
    n("Relu", [g.node("Add", [c, g.weight("bias_car", [1, 6, 1, 1], fan_in=1)])],
      "conv_add_relu")
    # Conv + BatchNormalization + Clip(0, 6)
    c = g.node("Conv", [x, g.weight("w_cbc", [6, 4, 3, 3]), g.weight("b_cbc", [6], fan_in=1)],
               strides=[2, 2], pads=[1, 1, 1, 1])
    bn = g.node("BatchNormalization", [c] + bn_params(g, "bn", 6), epsilon=1e-3)
    n("Clip", [bn, f32("zero", 0.0), f32("six", 6.0)], "conv_bn_relu6")
    # Gemm + Sigmoid
    n("Sigmoid", [g.node("Gemm", [a, g.weight("w_gemm", [6, 9]),
                                  g.weight("c_gemm", [6], fan_in=1)], transB=1)],
      "gemm_sigmoid")
    # MatMul + Add + HardSwish, and the opset<14 torch spelling x * HardSigmoid(x)
    mm = g.node("Add", [g.node("MatMul", [s, g.weight("w_mm", [9, 6])]),
                        g.weight("b_mm", [6], fan_in=1)])
    n("HardSwish", [mm], "matmul_add_hardswish")
    n("Mul", [mm, g.node("HardSigmoid", [mm], alpha=1.0 / 6, beta=0.5)],
      "matmul_add_hardsigmoid_mul")
    # residual block: Conv -> Relu -> Conv -> Add(skip) -> Relu
    c1 = g.node("Relu", [g.node("Conv", [x, g.weight("w_r1", [4, 4, 3, 3]),
                                         g.weight("b_r1", [4], fan_in=1)], pads=[1, 1, 1, 1])])
    c2 = g.node("Conv", [c1, g.weight("w_r2", [4, 4, 3, 3]), g.weight("b_r2", [4], fan_in=1)],
                pads=[1, 1, 1, 1])
    n("Relu", [g.node("Add", [c2, x])], "residual_block")
    # elementwise chains
    n("Mul", [x, g.node("Sigmoid", [x])], "silu")
    n("Sub", [g.node("Mul", [g.node("Add", [x, f32("one", 1.0)]), f32("two", 2.0)]),
              f32("three", 3.0)], "affine_chain")
    # Transpose then its inverse (output == x); Reshape to the same shape
    t = g.node("Transpose", [x], perm=[0, 2, 3, 1])
    n("Transpose", [t], "transpose_inverse", perm=[0, 3, 1, 2])
    n("Reshape", [g.node("Relu", [x]), g.init("same_shape", np.array([2, 4, 13, 11], np.int64))],
      "reshape_same")
    # two identical branches (common-subexpression elimination)
    w_cse = g.weight("w_cse", [3, 4, 1, 1])
    b_cse = g.weight("b_cse", [3], fan_in=1)
    br1 = g.node("Relu", [g.node("Conv", [x, w_cse, b_cse])])
    br2 = g.node("Relu", [g.node("Conv", [x, w_cse, b_cse])])
    n("Add", [br1, br2], "cse_two_branches")
    # Mul by scalar + Add of a per-channel constant feeding a Conv (fold into weights/bias)
    w_ss = g.weight("w_ss", [5, 4, 3, 3])
    b_ss = g.weight("b_ss", [5], fan_in=1)
    shift = g.weight("shift", [1, 4, 1, 1], fan_in=1)
    ss = g.node("Add", [g.node("Mul", [x, f32("scale", 0.5)]), shift])
    n("Conv", [ss, w_ss, b_ss], "scale_shift_conv")
    n("Conv", [ss, w_ss, b_ss], "scale_shift_conv_padded", pads=[1, 1, 1, 1])
    for o in outs:
        g.output(o)
    m = g.build("ops_fusion", 14)
    write_case("ops_fusion", m, g.feeds,
               "opset 14 (HardSwish needs 14) patterns an optimizer fuses: Conv + bias as separate "
               "Add + Relu; Conv + BatchNormalization + Clip(0,6); Gemm + Sigmoid; MatMul + Add + "
               "HardSwish and the same with x*HardSigmoid(x) (alpha 1/6); residual "
               "Conv->Relu->Conv->Add(x)->Relu; SiLU x*Sigmoid(x); (x+1)*2-3; Transpose then "
               "inverse Transpose (output equals input x); Reshape to the same shape; two "
               "identical Conv->Relu branches added (CSE); Mul scalar + Add [1,4,1,1] constant "
               "-> Conv (foldable into weights/bias) and the same into a padded Conv (the shift "
               "is NOT foldable into the bias at the borders)")


OPSET_NEW = 21  # newest opset onnxruntime 1.20.1 fully supports


def gen_ops_opset21():
    g = G(1021)
    x = g.input("x", [2, 3, 11, 9])
    a = g.input("a", [3, 6])
    outs = []

    def n(op, ins, out, **attrs):
        g.node(op, ins, out, **attrs)
        outs.append(out)

    c = g.node("Conv", [x, g.weight("w", [5, 3, 3, 3]), g.weight("b", [5], fan_in=1)],
               pads=[1, 1, 1, 1], strides=[2, 1])
    n("Relu", [c], "conv_relu")
    n("Reshape", [x, g.init("shape", np.array([0, -1, 9], dtype=np.int64))], "reshape")
    u = g.node("Unsqueeze", [a, g.init("axes_u", np.array([0, -1], dtype=np.int64))],
               "unsqueeze_axes_input")
    outs.append(u)
    n("Squeeze", [u, g.init("axes_s", np.array([3, 0], dtype=np.int64))], "squeeze_axes_input")
    n("Softmax", [x], "softmax_last", axis=-1)
    n("Clip", [x, g.init("lo", np.array(-0.25, dtype=np.float32)),
               g.init("hi", np.array(0.5, dtype=np.float32))], "clip")
    n("Gemm", [a, g.weight("gb", [4, 6]), g.weight("gc", [4], fan_in=1)], "gemm",
      transB=1, alpha=0.75, beta=1.25)
    for o in outs:
        g.output(o)
    m = g.build("ops_opset21", OPSET_NEW)
    write_case("ops_opset21", m, g.feeds,
               f"opset {OPSET_NEW}: Conv+Relu, Reshape, Unsqueeze/Squeeze with axes inputs, "
               f"Softmax axis -1, Clip with min/max inputs, Gemm")


# --------------------------------------------------------------------------
# error cases
# --------------------------------------------------------------------------

ERRORS_README = """# errors/

Inputs that a compiler must reject with a clear error (not a panic).

| file | what it is | expected failure |
| --- | --- | --- |
| `truncated.onnx` | the first half of `models/lenet/model.onnx`'s bytes | protobuf decode error (truncated message) |
| `garbage.onnx` | 512 random bytes (numpy seed 4242) | protobuf decode error |
| `unsupported_op.onnx` | a valid, checker-passing opset-13 model: input `x` [3,3] -> `RandomUniformLike` (node name `my_random`; random, so never compiled) -> output `y` [3,3] | "unsupported operator": the message should name the op type in `unsupported_op_expected.txt` (`RandomUniformLike`) and ideally the node name `my_random` |
| `unsupported_op_expected.txt` | the op type name, `RandomUniformLike`, on one line | |

Regenerate with `python testmodels/gen/generate.py` (lenet must be generated in the same run
or already present).
"""


def gen_errors():
    ERRORS.mkdir(parents=True, exist_ok=True)
    lenet = (MODELS / "lenet" / "model.onnx").read_bytes()
    (ERRORS / "truncated.onnx").write_bytes(lenet[: len(lenet) // 2])
    rng = np.random.default_rng(4242)
    (ERRORS / "garbage.onnx").write_bytes(rng.integers(0, 256, 512, dtype=np.uint8).tobytes())
    x = helper.make_tensor_value_info("x", F, [3, 3])
    y = helper.make_tensor_value_info("y", F, [3, 3])
    graph = helper.make_graph([helper.make_node("RandomUniformLike", ["x"], ["y"], name="my_random")],
                              "unsupported_op", [x], [y])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="neoc-testmodels")
    onnx.checker.check_model(m, full_check=True)
    (ERRORS / "unsupported_op.onnx").write_bytes(m.SerializeToString(deterministic=True))
    (ERRORS / "unsupported_op_expected.txt").write_text("RandomUniformLike\n")
    (ERRORS / "README.md").write_text(ERRORS_README)
    print("== errors: truncated.onnx, garbage.onnx, unsupported_op.onnx (RandomUniformLike, node my_random)")


# --------------------------------------------------------------------------
# generated section of gen/README.md
# --------------------------------------------------------------------------

BEGIN = "<!-- BEGIN GENERATED: do not edit, written by generate.py -->"
END = "<!-- END GENERATED -->"


def _npy_shape(path: Path):
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    return list(shape), str(dtype)


def update_readme_section():
    """Rebuild the per-model table in gen/README.md from what is on disk."""
    readme = Path(__file__).resolve().parent / "README.md"
    lines = [BEGIN, ""]
    for d in sorted(p for p in MODELS.iterdir() if p.is_dir()):
        case = json.loads((d / "case.json").read_text())
        model = onnx.load(str(d / "model.onnx"), load_external_data=False)
        size = (d / "model.onnx").stat().st_size
        lines.append(f"### `{d.name}` (opset {case['opset']}, IR {model.ir_version}, "
                     f"{size / 1024:.1f} KiB)")
        lines.append("")
        lines.append(case["description"])
        lines.append("")
        ins = [i.name for i in real_inputs(model)]
        for kind, names in (("in", ins), ("out", [o.name for o in model.graph.output])):
            sub = "inputs" if kind == "in" else "expected"
            for n in names:
                shp, dt = _npy_shape(d / sub / f"{n}.npy")
                lines.append(f"- {kind} `{n}`: {shp} {dt}")
        ops = (d / "ops.txt").read_text().split("\n")
        lines.append("- ops: " + ", ".join(f"{l.split()[0]} x{l.split()[1]}" for l in ops if l))
        lines.append("")
    lines.append(END)
    text = readme.read_text() if readme.exists() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    readme.write_text(head + "\n".join(lines) + tail)


CASES = {
    "mlp": gen_mlp,
    "lenet": gen_lenet,
    "resnet18": gen_resnet18,
    "mobilenet_v2": gen_mobilenet_v2,
    "ops_conv": gen_ops_conv,
    "ops_winograd": gen_ops_winograd,
    "ops_pool": gen_ops_pool,
    "ops_elementwise": gen_ops_elementwise,
    "ops_linear": gen_ops_linear,
    "ops_shape": gen_ops_shape,
    "ops_bn": gen_ops_bn,
    "ops_opset7": gen_ops_opset7,
    "ops_opset11": gen_ops_opset11,
    "ops_opset21": gen_ops_opset21,
    "ops_reduce": gen_ops_reduce,
    "ops_reduce18": gen_ops_reduce18,
    "ops_pad": gen_ops_pad,
    "ops_pad18": gen_ops_pad18,
    "ops_pad19": gen_ops_pad19,
    "ops_where_expand": gen_ops_where_expand,
    "ops_fusion": gen_ops_fusion,
    "ops_layernorm_gelu": gen_ops_layernorm_gelu,
    "ops_tiles": gen_ops_tiles,
    "ops_blocked": gen_ops_blocked,
    "rnn_tagger": gen_rnn_tagger,
    "ops_einsum": gen_ops_einsum,
    "spatial_transformer": gen_spatial_transformer,
    "bert_encoder": gen_bert_encoder,
    "bert_encoder_opset17": gen_bert_encoder_opset17,
    "errors": gen_errors,
}

# written only with --large (or when named), into large/<name>/, never committed
LARGE_CASES = {
    "resnet50": gen_resnet50,
    "bert_base": gen_bert_base,
}


def main(argv):
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    np.random.seed(0)
    large = "--large" in argv
    argv = [a for a in argv if a != "--large"]
    names = argv or (list(LARGE_CASES) if large else list(CASES))
    allcases = {**CASES, **LARGE_CASES}
    for n in names:
        if n not in allcases:
            sys.exit(f"unknown case {n!r}; known: {', '.join(allcases)}")
    for n in names:
        allcases[n]()
    if any(n in CASES for n in names):
        update_readme_section()
    total = 0
    for p in sorted(ROOT.glob("models/**/*")) + sorted(ERRORS.glob("*")):
        if p.is_file():
            total += p.stat().st_size
    print(f"\n{len(SUMMARY)} model case(s) written; models/ + errors/ total {total / 1e6:.1f} MB")
    if any(n in LARGE_CASES for n in names):
        big = sum(p.stat().st_size for p in LARGE.glob("**/*") if p.is_file())
        print(f"large/ (not committed) total {big / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
