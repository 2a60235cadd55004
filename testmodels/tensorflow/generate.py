#!/usr/bin/env python3
"""Regenerate the TensorFlow test models of neoc's TensorFlow frontend.

    python3 -m venv testmodels/.venv-tf
    testmodels/.venv-tf/bin/pip install -r testmodels/tensorflow/requirements.txt
    testmodels/.venv-tf/bin/python testmodels/tensorflow/generate.py           # committed models
    testmodels/.venv-tf/bin/python testmodels/tensorflow/generate.py cnn       # only the named ones
    testmodels/.venv-tf/bin/python testmodels/tensorflow/generate.py errors    # only errors/
    testmodels/.venv-tf/bin/python testmodels/tensorflow/generate.py --large   # MobileNetV2, ResNet50

Writes, relative to testmodels/tensorflow/:
    models/<name>/frozen.pb           the model as one GraphDef, variables turned into
                                      constants (convert_variables_to_constants_v2)
    models/<name>/saved_model/        the Keras model's own export (model.export: a
                                      SavedModel with a `serve` and a `serving_default`
                                      signature, batch dim unknown), or tf.saved_model.save
                                      of a tf.Module
    models/<name>/inputs/<name>.npy   one per input, named like the placeholder / the
                                      signature key (they agree)
    models/<name>/expected/output_<i>.npy   TensorFlow's outputs, in output order (frozen:
                                      graph order of the output nodes; SavedModel: sorted
                                      signature keys; the scripts make them agree)
    models/<name>/case.json           description, versions, tolerances, inputs, outputs,
                                      the formats, input shapes for unknown dims
    errors/                           models that must be refused with a clear message
    large/<name>/...                  same layout, only with --large (git-ignored)

References come from TensorFlow itself (float32, CPU, one thread), never from neoc.
Everything is seeded. Pinned: tensorflow-cpu 2.16.2, keras 3.15.1, tf-keras 2.16.0 (the
keras2 model), numpy 1.26.4 (requirements.txt beside this file).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

ROOT = Path(__file__).resolve().parent
MODELS = ROOT / "models"
LARGE = ROOT / "large"
ERRORS = ROOT / "errors"
PINNED = {"tensorflow": "2.16.2", "keras": "3.15.1"}

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    np.save(path, arr, allow_pickle=False)


def randomize_batch_norms(model: keras.Model, seed: int) -> None:
    """Moving statistics and affine parameters away from their identity init, so that
    batch-norm bugs show in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            n = gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n).astype(np.float32),
                    rng.normal(0, 0.2, n).astype(np.float32),
                    rng.normal(0, 0.2, n).astype(np.float32),
                    rng.uniform(0.5, 1.5, n).astype(np.float32),
                ]
            )


def freeze(fn, specs) -> tf.compat.v1.GraphDef:
    """The concrete function of `fn` for `specs`, with variables as constants."""
    concrete = tf.function(fn).get_concrete_function(*specs)
    return convert_variables_to_constants_v2(concrete).graph.as_graph_def()


def write_case(out: Path, description: str, inputs: dict, outputs: list, formats: list,
               input_shapes: dict, rtol=1e-4, atol=1e-5) -> None:
    case = {
        "description": description,
        "framework": f"tensorflow {tf.__version__}, keras {keras.__version__}",
        "rtol": rtol,
        "atol": atol,
        "inputs": [
            {"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in inputs.items()
        ],
        "outputs": [list(o.shape) for o in outputs],
        "formats": formats,
        "input_shapes": input_shapes,
    }
    (out / "case.json").write_text(json.dumps(case, indent=2) + "\n")


def emit_keras(out: Path, model: keras.Model, inputs: dict, description: str,
               saved_model: bool = True) -> None:
    """Frozen graph, Keras SavedModel export, inputs and TF's outputs of `model`."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    names = list(inputs)
    specs = [tf.TensorSpec(v.shape, tf.as_dtype(v.dtype), name=k) for k, v in inputs.items()]

    def call(*args):
        return model(list(args) if len(args) > 1 else args[0], training=False)

    gd = freeze(call, specs)
    (out / "frozen.pb").write_bytes(gd.SerializeToString())
    formats = ["frozen.pb"]
    if saved_model:
        model.export(str(out / "saved_model"), verbose=False)
        formats.append("saved_model")
    ys = model([inputs[k] for k in names] if len(names) > 1 else inputs[names[0]], training=False)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    ys = [np.asarray(y) for y in ys]
    for k, v in inputs.items():
        save_npy(out / "inputs" / f"{k}.npy", v)
    for i, y in enumerate(ys):
        save_npy(out / "expected" / f"output_{i}.npy", y)
    write_case(out, description, inputs, ys, formats,
               {k: list(v.shape) for k, v in inputs.items()})
    print(f"{out.relative_to(ROOT)}: {', '.join(formats)}; outputs {[y.shape for y in ys]}")


# ---- committed models ------------------------------------------------------------------

def cnn() -> None:
    keras.utils.set_random_seed(1)
    x_in = keras.Input((32, 32, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same")(x_in)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(16, 1)(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = keras.layers.Conv2D(24, 3, dilation_rate=2, padding="valid", activation="elu")(x)
    a = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
    b = keras.layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.SeparableConv2D(32, 3, padding="same", activation="sigmoid")(x)
    u = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
    u = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="tanh")(u)
    x = keras.layers.Multiply()([x[..., :8], u])
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    logits = keras.layers.Dense(
        10, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=8))(x)
    probs = keras.layers.Softmax()(logits)
    model = keras.Model(x_in, [logits, probs])
    randomize_batch_norms(model, 2)
    rng = np.random.default_rng(3)
    image = rng.normal(0, 1, (1, 32, 32, 3)).astype(np.float32)
    emit_keras(
        MODELS / "cnn", model, {"image": image},
        "small Keras CNN, NHWC 1x32x32x3: strided/dilated/1x1 Conv2D, DepthwiseConv2D "
        "(multiplier 2), SeparableConv2D, BatchNormalization (randomized), ReLU6/ReLU/ELU/"
        "sigmoid/tanh, residual Add, ZeroPadding2D, MaxPool and AvgPool with SAME padding, "
        "Concatenate, bilinear UpSampling2D, channel slice, Multiply, GlobalAveragePooling2D, "
        "Dense, Dropout (inference), Softmax; outputs logits and probabilities",
    )


def bert() -> None:
    keras.utils.set_random_seed(4)
    seq, hidden, heads, vocab, ffn = 32, 64, 4, 500, 128
    ids = keras.Input((seq,), batch_size=1, dtype="int32", name="input_ids")
    x = keras.layers.Embedding(vocab, hidden)(ids)
    pos = keras.layers.Embedding(seq, hidden)(keras.ops.arange(seq)[None, :])
    x = keras.layers.LayerNormalization(epsilon=1e-12)(x + pos)
    for _ in range(2):
        att = keras.layers.MultiHeadAttention(heads, hidden // heads)(x, x)
        x = keras.layers.LayerNormalization(epsilon=1e-12)(x + att)
        f = keras.layers.Dense(ffn, activation="gelu")(x)
        f = keras.layers.Dense(hidden)(f)
        x = keras.layers.LayerNormalization(epsilon=1e-12)(x + f)
    pooled = keras.layers.Dense(hidden, activation="tanh")(x[:, 0])
    model = keras.Model(ids, [x, pooled])
    rng = np.random.default_rng(5)
    input_ids = rng.integers(0, vocab, (1, seq)).astype(np.int32)
    emit_keras(
        MODELS / "bert", model, {"input_ids": input_ids},
        "BERT-style Keras encoder: int32 input_ids [1,32], token + position Embedding, "
        "2 layers of MultiHeadAttention (4 heads, hidden 64; Einsum), LayerNormalization, "
        "Dense with exact GELU (Erf), residuals; pooler Dense(tanh) on token 0; outputs "
        "last hidden state [1,32,64] and pooled [1,64]",
    )


class OpsModule(tf.Module):
    """Raw TF ops the Keras models do not produce; its variables make the SavedModel
    capture them (a tf.Module, not Keras)."""

    def __init__(self):
        rng = np.random.default_rng(6)
        self.w = tf.Variable(rng.normal(0, 0.3, (3, 3, 4, 6)).astype(np.float32), name="w")
        self.scale = tf.Variable(rng.uniform(0.5, 1.5, 6).astype(np.float32), name="scale")
        self.offset = tf.Variable(rng.normal(0, 0.2, 6).astype(np.float32), name="offset")
        self.mean = tf.Variable(rng.normal(0, 0.2, 6).astype(np.float32), name="mean")
        self.var = tf.Variable(rng.uniform(0.5, 1.5, 6).astype(np.float32), name="var")
        self.m = tf.Variable(rng.normal(0, 0.3, (6, 5)).astype(np.float32), name="m")
        self.dw = tf.Variable(rng.normal(0, 0.3, (3, 3, 6, 1)).astype(np.float32), name="dw")

    @tf.function(input_signature=[tf.TensorSpec([2, 8, 8, 4], tf.float32, name="x")])
    def __call__(self, x):
        y = tf.nn.conv2d(x, self.w, strides=1, padding="SAME")
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            y, self.scale, self.offset, self.mean, self.var, epsilon=1e-3, is_training=False)
        y = tf.nn.leaky_relu(y, 0.1)
        # Training-mode batch norm (batch statistics), as tf_keras' LayerNormalization
        # uses it: channels-first over a [1, rows, cols, 1] view.
        ln, _, _ = tf.compat.v1.nn.fused_batch_norm(
            tf.reshape(y, [1, 16, 48, 1]), tf.ones([16]), tf.zeros([16]), epsilon=1e-3,
            data_format="NCHW", is_training=True)
        y = y + 0.5 * tf.reshape(ln, [2, 8, 8, 6])
        # Dilated convolutions, which TF writes as SpaceToBatchND -> conv -> BatchToSpaceND
        # (SAME padding: the crops differ from the paddings).
        y = y + tf.nn.atrous_conv2d(y, self.dw[..., :1] * tf.ones([1, 1, 1, 6]), 2, "SAME")
        y = y + tf.nn.depthwise_conv2d(y, self.dw, [1, 1, 1, 1], "SAME", dilations=[3, 3])
        y = tf.pad(y, [[0, 0], [1, 2], [2, 1], [0, 0]], constant_values=0.5)
        y = tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        y = tf.nn.avg_pool2d(y, 2, 2, "VALID")
        r1 = tf.image.resize(y, [9, 7], method="bilinear")
        r2 = tf.compat.v1.image.resize_bilinear(y, [9, 7], align_corners=True)
        r3 = tf.image.resize(y, [11, 5], method="nearest")
        r4 = tf.compat.v1.image.resize_nearest_neighbor(y, [9, 7], align_corners=True)
        s = tf.reduce_sum(r1 * r2, axis=[1, 2]) + tf.reduce_max(r3, axis=[1, 2]) \
            - tf.reduce_min(r4, axis=[1, 2])
        p = tf.reduce_prod(tf.sigmoid(r1), axis=[1, 2], keepdims=True)
        a = y[:, 1:-1:2, ::-1, 2:]                     # strided, reversed
        b = y[..., 0]                                   # ellipsis, shrink
        c = y[:, None, -1, :, tf.newaxis, 3]            # new axes, negative shrink
        parts = tf.unstack(y, axis=2)
        stacked = tf.stack(parts[::2], axis=-1)
        s1, s2 = tf.split(y, 2, axis=3)
        v1, v2, v3 = tf.split(y, [1, 2, -1], axis=1)
        t = tf.tile(s1[:, :1, :1, :], [1, 2, 3, 1])
        e = tf.einsum("bhwc,cd->bdhw", y, self.m)
        bmm = tf.linalg.matmul(tf.reshape(y, [2, -1, 6]), tf.reshape(y, [2, -1, 6]),
                               adjoint_a=True)
        g = tf.gather(tf.reshape(y, [2, -1]), [3, 1, 4, 1, 5], axis=1)
        fd = tf.math.floordiv(y, 0.3) + tf.math.floormod(y, 0.7)
        sel = tf.where(y > 0.1, tf.pow(tf.abs(y) + 1.0, 1.5), tf.math.erf(y))
        z = tf.nn.selu(y) + tf.nn.softplus(y) + tf.nn.elu(y) + tf.math.rsqrt(tf.abs(y) + 1.0) \
            + tf.square(y) - tf.maximum(y, 0.2) * tf.minimum(y, -0.1)
        am = tf.cast(tf.argmax(tf.reshape(y, [2, -1]), axis=1), tf.float32)
        ls = tf.nn.log_softmax(tf.reshape(z, [2, -1]))
        return {
            "reduced": s + tf.reshape(p, [2, 6]),
            "sliced": tf.reduce_sum(a, axis=[1, 2]) + tf.reduce_mean(b, axis=[1, 2])[:, None]
            + tf.reduce_sum(c, axis=[1, 2, 3])[:, None],
            "stacked": tf.reduce_sum(stacked, axis=[1, 3]) + tf.reduce_sum(t, axis=[1, 2])[:, :1]
            + tf.reduce_sum(s2) + tf.reduce_sum(v1 * 2.0 + v3[:, :1] - v2[:, 1:], axis=[1, 2]),
            "mixed": tf.reduce_sum(e, axis=[2, 3])[:, :5] + tf.reduce_sum(bmm, axis=2)[:, :5]
            + g + am[:, None],
            "z": ls + tf.reshape(fd + sel, [2, -1]),
        }


def ops() -> None:
    module = OpsModule()
    out = MODELS / "ops"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (2, 8, 8, 4)).astype(np.float32)
    concrete = module.__call__.get_concrete_function()
    gd = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    (out / "frozen.pb").write_bytes(gd.SerializeToString())
    tf.saved_model.save(module, str(out / "saved_model"))
    ys = module(tf.constant(x))
    keys = sorted(ys)
    outs = [np.asarray(ys[k]) for k in keys]
    save_npy(out / "inputs" / "x.npy", x)
    for i, y in enumerate(outs):
        save_npy(out / "expected" / f"output_{i}.npy", y)
    # The frozen graph's outputs are Identity nodes in the order of the sorted keys
    # (tf.function flattens dicts sorted by key), as the SavedModel's signature is.
    write_case(
        out,
        "raw TF ops in a tf.Module (variables captured by the SavedModel): Conv2D, dilated "
        "Conv2D and DepthwiseConv2dNative with SAME padding (SpaceToBatchND/BatchToSpaceND), "
        "FusedBatchNormV3 (inference, and training mode NCHW as tf_keras LayerNorm), LeakyRelu, Pad/PadV2/MirrorPad, AvgPool, ResizeBilinear/"
        "ResizeNearestNeighbor (half-pixel, align_corners), Sum/Max/Min/Prod/Mean, "
        "StridedSlice (ellipsis, new axis, shrink, negative stride), Unpack/Pack, Split/SplitV, "
        "Tile, Einsum, BatchMatMulV2 (adj_x), GatherV2, FloorDiv/FloorMod, Select, Pow, Erf, "
        "Selu/Softplus/Elu/Rsqrt/Square/Maximum/Minimum, ArgMax, Cast, LogSoftmax; "
        f"outputs (sorted keys): {', '.join(keys)}",
        {"x": x}, outs, ["frozen.pb", "saved_model"], {"x": list(x.shape)},
    )
    print(f"{out.relative_to(ROOT)}: outputs {keys}")


def tf1() -> None:
    """A TF1-style SavedModel (graph mode, Session, SavedModelBuilder): variables are
    read by name, a resource variable (VarHandleOp) and a reference one (VariableV2)."""
    out = MODELS / "tf1"
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(9)
    x_val = rng.normal(0, 1, (2, 6)).astype(np.float32)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2, 6], name="x")
        w = tf.compat.v1.get_variable(
            "dense/w", initializer=rng.normal(0, 0.5, (6, 4)).astype(np.float32),
            use_resource=True)
        b = tf.compat.v1.Variable(rng.normal(0, 0.5, 4).astype(np.float32), name="dense/b",
                                  use_resource=False)
        y = tf.nn.tanh(tf.compat.v1.matmul(x, w) + b, name="y")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            y_val = sess.run(y, {x: x_val})
            sig = tf.compat.v1.saved_model.predict_signature_def(inputs={"x": x},
                                                                  outputs={"y": y})
            builder = tf.compat.v1.saved_model.Builder(str(out / "saved_model"))
            builder.add_meta_graph_and_variables(
                sess, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()
    save_npy(out / "inputs" / "x.npy", x_val)
    save_npy(out / "expected" / "output_0.npy", y_val)
    write_case(out, "TF1 SavedModel (Session + SavedModelBuilder): MatMul of a resource "
               "variable, Add of a reference variable (VariableV2), Tanh; variables read by "
               "name", {"x": x_val}, [y_val], ["saved_model"], {"x": [2, 6]})
    print(f"{out.relative_to(ROOT)}: saved_model")


def keras2() -> None:
    """A Keras 2 (tf_keras) model saved the Keras 2 way (`model.save(save_format="tf")`):
    its SavedModel nests the layers' call functions, its batch norm is FusedBatchNormV3,
    its Embedding reads the variable with ResourceGather."""
    import tf_keras as k2

    k2.utils.set_random_seed(13)
    img = k2.Input((16, 16, 3), batch_size=1, name="image")
    x = k2.layers.Conv2D(8, 3, padding="same")(img)
    x = k2.layers.BatchNormalization()(x)
    x = k2.layers.ReLU(6.0)(x)
    x = k2.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = k2.layers.BatchNormalization()(x)
    x = k2.layers.GlobalAveragePooling2D()(x)
    ids = k2.Input((8,), batch_size=1, dtype="int32", name="ids")
    t = k2.layers.Embedding(40, 8)(ids)
    a = k2.layers.MultiHeadAttention(2, 4)(t, t)
    t = k2.layers.LayerNormalization()(t + a)
    t = k2.layers.Dense(8, activation="gelu")(t)
    t = k2.layers.GlobalAveragePooling1D()(t)
    out = k2.layers.Dense(5, kernel_initializer=k2.initializers.RandomNormal(stddev=1.0))(
        k2.layers.Concatenate()([x, t]))
    model = k2.Model([img, ids], out)
    rng = np.random.default_rng(14)
    for layer in model.layers:
        if isinstance(layer, k2.layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n),
                               rng.normal(0, 0.2, n), rng.uniform(0.5, 1.5, n)])
    image = rng.normal(0, 1, (1, 16, 16, 3)).astype(np.float32)
    id_vals = rng.integers(0, 40, (1, 8)).astype(np.int32)
    out_dir = MODELS / "keras2"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    specs = [tf.TensorSpec(image.shape, tf.float32, name="image"),
             tf.TensorSpec(id_vals.shape, tf.int32, name="ids")]
    gd = freeze(lambda a, b: model([a, b], training=False), specs)
    (out_dir / "frozen.pb").write_bytes(gd.SerializeToString())
    model.save(str(out_dir / "saved_model"), save_format="tf")
    y = model([image, id_vals], training=False).numpy()
    save_npy(out_dir / "inputs" / "image.npy", image)
    save_npy(out_dir / "inputs" / "ids.npy", id_vals)
    save_npy(out_dir / "expected" / "output_0.npy", y)
    write_case(out_dir, f"Keras 2 (tf_keras {k2.__version__}) functional model with two inputs: "
               "Conv2D, BatchNormalization (FusedBatchNormV3, randomized), ReLU6, "
               "DepthwiseConv2D, GlobalAveragePooling2D; Embedding (ResourceGather), "
               "MultiHeadAttention, LayerNormalization, Dense(gelu), GlobalAveragePooling1D; "
               "Concatenate, Dense; saved with model.save(save_format='tf') and frozen",
               {"image": image, "ids": id_vals}, [y], ["frozen.pb", "saved_model"],
               {"image": list(image.shape), "ids": list(id_vals.shape)})
    print(f"{out_dir.relative_to(ROOT)}: frozen.pb, saved_model")


# ---- error models ----------------------------------------------------------------------

def errors() -> None:
    ERRORS.mkdir(parents=True, exist_ok=True)

    @tf.function(input_signature=[tf.TensorSpec([1, 4, 4, 4, 2], tf.float32, name="x")])
    def unsupported(x):
        w = tf.ones([2, 2, 2, 2, 3])
        y = tf.nn.conv3d(x, w, [1, 1, 1, 1, 1], "SAME")
        z = tf.math.cumprod(tf.nn.relu(y), axis=1)
        return tf.signal.rfft(tf.reshape(z + tf.math.bessel_i0e(z), [1, -1]))

    gd = unsupported.get_concrete_function().graph.as_graph_def()
    (ERRORS / "unsupported_ops.pb").write_bytes(gd.SerializeToString())

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def dynamic(x):
        return tf.nn.relu(x) * 2.0

    gd = dynamic.get_concrete_function().graph.as_graph_def()
    (ERRORS / "unknown_batch.pb").write_bytes(gd.SerializeToString())
    print("errors/: unsupported_ops.pb, unknown_batch.pb")


# ---- large models (not committed) --------------------------------------------------------

def large(names: list[str]) -> None:
    apps = {
        "mobilenet_v2": lambda: keras.applications.MobileNetV2(
            weights=None, input_shape=(224, 224, 3)),
        "resnet50": lambda: keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3)),
    }
    for name in names or list(apps):
        keras.utils.set_random_seed(10)
        inner = apps[name]()
        randomize_batch_norms(inner, 11)
        x_in = keras.Input((224, 224, 3), batch_size=1, name="image")
        model = keras.Model(x_in, inner(x_in))
        image = np.random.default_rng(12).normal(0, 1, (1, 224, 224, 3)).astype(np.float32)
        emit_keras(LARGE / name, model, {"image": image},
                   f"keras.applications.{name} (weights=None, seeded, randomized batch norms), "
                   "1x224x224x3, softmax output")


def main(argv: list[str]) -> None:
    for pkg, want in PINNED.items():
        have = {"tensorflow": tf.__version__, "keras": keras.__version__}[pkg]
        if have != want:
            print(f"warning: {pkg} {have} is not the pinned {want}", file=sys.stderr)
    if "--large" in argv:
        large([a for a in argv if a != "--large"])
        return
    todo = {"cnn": cnn, "bert": bert, "ops": ops, "tf1": tf1, "keras2": keras2,
            "errors": errors}
    for name in argv or list(todo):
        todo[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
