"""Running compiled models from Python: outputs against onnxruntime's references, the
three input forms, the signature, and how inputs that are not plain C-contiguous arrays
are handled."""

import numpy as np
import pytest

import neoc


@pytest.mark.parametrize("name", ["lenet", "mobilenet_v2", "bert_encoder", "ops_bn"])
def test_outputs_match_onnxruntime(compile_model, name):
    case = compile_model(name)
    model = neoc.load(case.artifact)
    inputs = {i.name: case.input(i.name) for i in model.inputs}
    case.assert_matches(model.run(inputs), model)


def test_three_input_forms_agree(lenet):
    model = neoc.load(lenet.artifact)
    x = lenet.input("input")
    by_name = model.run({"input": x})["output"]
    lenet.assert_matches({"output": by_name}, model)
    np.testing.assert_array_equal(model.run([x])["output"], by_name)
    np.testing.assert_array_equal(model.run((x,))["output"], by_name)
    np.testing.assert_array_equal(model.run(x)["output"], by_name)


def test_list_form_follows_signature_order(compile_model):
    case = compile_model("ops_bn")
    model = neoc.load(case.artifact)
    names = [i.name for i in model.inputs]
    out = model.run([case.input(n) for n in names])
    case.assert_matches(out, model)
    # A dict in another order means the same thing.
    reordered = {n: case.input(n) for n in reversed(names)}
    for name, got in model.run(reordered).items():
        np.testing.assert_array_equal(got, out[name])


def test_signature_and_metadata(compile_model):
    case = compile_model("bert_encoder")
    model = neoc.load(case.artifact, threads=2)
    [inp] = model.inputs
    ids = case.input("input_ids")
    assert (inp.name, inp.shape, inp.dtype, inp.type) == ("input_ids", ids.shape, np.int64, "int64")
    assert [o.name for o in model.outputs] == ["last_hidden_state", "pooled"]
    for o in model.outputs:
        want = case.expected(o.name)
        assert (o.shape, o.dtype) == (want.shape, want.dtype)
    assert isinstance(model.target, str) and model.target
    assert model.variant is None or isinstance(model.variant, str)
    assert model.path == str(case.artifact)
    assert model.threads == 2
    assert model.compiler_version.startswith("neoc")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in model.metadata.items())
    text = repr(model)
    assert "input_ids: int64[1,128]" in text and "pooled: float32[1,128]" in text
    assert repr(inp) == "TensorInfo(name='input_ids', shape=(1, 128), dtype=int64)"
    assert text.startswith(f"<neoc.Model {str(case.artifact)!r} target=")


def test_path_like_and_threads(lenet):
    x = lenet.input("input")
    single = neoc.load(lenet.artifact, threads=1).run(x)["output"]
    for threads in (None, 2):
        model = neoc.load(lenet.artifact, threads=threads)
        # Parallel kernels split work into disjoint parts: the thread count changes nothing.
        np.testing.assert_array_equal(model.run(x)["output"], single)


def test_non_contiguous_input_is_copied(lenet):
    model = neoc.load(lenet.artifact)
    x = lenet.input("input")
    want = model.run(x)["output"]
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.float32)
    wide[..., ::2] = x
    strided = wide[..., ::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(model.run(strided)["output"], want)
    fortran = np.asfortranarray(x)
    assert not fortran.flags.c_contiguous
    np.testing.assert_array_equal(model.run(fortran)["output"], want)
    # The caller's arrays are left as they were.
    np.testing.assert_array_equal(strided, x)


def test_other_layouts_of_the_same_values(lenet):
    model = neoc.load(lenet.artifact)
    x = lenet.input("input")
    want = model.run(x)["output"]
    # Big-endian float32: same dtype, other byte order; converted, not refused.
    np.testing.assert_array_equal(model.run(x.astype(">f4"))["output"], want)
    # Misaligned data (one byte past an aligned start): the runtime copies it.
    buf = np.zeros(x.nbytes + 1, np.uint8)
    buf[1:] = np.frombuffer(x.tobytes(), np.uint8)
    misaligned = np.frombuffer(buf.data, np.float32, count=x.size, offset=1).reshape(x.shape)
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(model.run(misaligned)["output"], want)
    # Read-only input.
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(model.run(ro)["output"], want)


def test_outputs_are_fresh_arrays(lenet):
    model = neoc.load(lenet.artifact)
    x = lenet.input("input")
    first = model.run(x)["output"]
    keep = first.copy()
    first[:] = 0  # writable, and owned by the caller
    second = model.run(x)["output"]
    np.testing.assert_array_equal(second, keep)
    assert not np.shares_memory(first, second)


def test_contiguous_input_is_not_copied(compile_model):
    """NumPy reports its allocations to tracemalloc: a contiguous input must not cause one
    of its size (a strided one must, for its contiguous copy)."""
    import tracemalloc

    case = compile_model("mobilenet_v2")
    model = neoc.load(case.artifact, threads=1)
    x = case.input("input")
    model.run(x)  # the context exists from here on

    def peak(given):
        tracemalloc.start()
        try:
            model.run(given)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    contiguous = peak(x)
    strided = peak(np.asfortranarray(x))
    print(f"traced peak: contiguous input {contiguous} B, strided {strided} B, "
          f"input {x.nbytes} B")
    assert contiguous < x.nbytes // 4
    assert strided >= x.nbytes


def test_load_bytes(lenet):
    data = lenet.artifact.read_bytes()
    model = neoc.load_bytes(data)
    assert model.path == "<in-memory artifact>"
    lenet.assert_matches(model.run(lenet.input("input")), model)
    np.testing.assert_array_equal(
        neoc.load_bytes(bytearray(data), threads=1).run(lenet.input("input"))["output"],
        model.run(lenet.input("input"))["output"],
    )
    np.testing.assert_array_equal(
        neoc.load_bytes(memoryview(data)).run(lenet.input("input"))["output"],
        model.run(lenet.input("input"))["output"],
    )
