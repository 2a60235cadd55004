"""Bad files and bad inputs raise neoc's exceptions with the runtime's message, naming
the file, the input and what was expected; nothing crashes the interpreter."""

import errno
import shutil

import numpy as np
import pytest

import neoc


def test_missing_file(tmp_path):
    path = tmp_path / "missing.neo"
    with pytest.raises(neoc.ModelNotFoundError) as info:
        neoc.load(path)
    e = info.value
    assert isinstance(e, FileNotFoundError) and isinstance(e, neoc.Error)
    assert isinstance(e, RuntimeError)
    assert e.filename == str(path) and e.errno == errno.ENOENT
    assert str(e).startswith(f"cannot read {path}: ")


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(neoc.Error, match=f"cannot read {tmp_path}"):
        neoc.load(tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], r"truncated: expected \d+ bytes, found \d+"),
        (lambda b: b"", "truncated"),
        (lambda b: b[:-100] + bytes(x ^ 0xFF for x in b[-100:]), "corrupted: checksum mismatch"),
        (lambda b: bytes(b[: len(b) // 2])
         + bytes([b[len(b) // 2] ^ 0xFF])
         + bytes(b[len(b) // 2 + 1 :]), "corrupted: checksum mismatch"),
    ],
    ids=["half", "empty", "tail-flipped", "byte-flipped"],
)
def test_corrupt_file(lenet, tmp_path, damage, message):
    path = tmp_path / "bad.neo"
    path.write_bytes(damage(lenet.artifact.read_bytes()))
    # A mapped model's weights are checksummed on first use, not at load: a damaged
    # weight is refused by the first run at the latest, never answered.
    with pytest.raises(neoc.Error, match=message) as info:
        neoc.load(path).run(lenet.input("input"))
    if "checksum" in message:
        with pytest.raises(neoc.Error, match=message):
            neoc.load(path).verify()
    assert str(info.value).startswith(f"{path}: ")
    assert not isinstance(info.value, (ValueError, OSError))


def test_not_an_artifact(lenet, tmp_path):
    path = tmp_path / "model.neo"
    shutil.copy(lenet.dir / "model.onnx", path)
    with pytest.raises(neoc.Error, match=r"not a neoc artifact \(bad magic\)") as info:
        neoc.load(path)
    assert str(path) in str(info.value)


@pytest.fixture(scope="module")
def model(lenet):
    return neoc.load(lenet.artifact)


def test_wrong_input_name(model, lenet):
    with pytest.raises(neoc.InputError, match=r'no input named "image" \(inputs: input\)') as info:
        model.run({"image": lenet.input("input")})
    assert isinstance(info.value, ValueError) and isinstance(info.value, neoc.Error)
    assert str(info.value).startswith(f"{lenet.artifact}: ")


def test_wrong_shape(model, lenet):
    x = lenet.input("input")[:1]
    with pytest.raises(
        ValueError,
        match=r'input "input": expected float32\[2,1,28,28\], got float32\[1,1,28,28\]',
    ):
        model.run({"input": x})


def test_wrong_dtype_is_not_cast(model, lenet):
    x = lenet.input("input").astype(np.float64)
    with pytest.raises(
        neoc.InputError,
        match=r'input "input": expected float32\[2,1,28,28\], got float64\[2,1,28,28\]',
    ):
        model.run(x)


def test_dtype_neoc_lacks(model, lenet):
    x = lenet.input("input").astype(np.complex64)
    with pytest.raises(
        neoc.InputError,
        match=r'input "input": expected float32\[2,1,28,28\], got complex64\[2,1,28,28\], '
        "a NumPy dtype neoc has no counterpart for",
    ):
        model.run([x])


def test_int64_input_rejects_int32(compile_model):
    case = compile_model("bert_encoder")
    m = neoc.load(case.artifact)
    ids = case.input("input_ids").astype(np.int32)
    with pytest.raises(neoc.InputError, match=r"expected int64\[1,128\], got int32\[1,128\]"):
        m.run({"input_ids": ids})


def test_wrong_count_and_missing_input(compile_model):
    case = compile_model("ops_bn")
    m = neoc.load(case.artifact)
    x = case.input("x")
    with pytest.raises(neoc.InputError, match="expected 2 inputs, got 1"):
        m.run([x])
    with pytest.raises(neoc.InputError, match='input "y" is missing'):
        m.run({"x": x})
    with pytest.raises(neoc.InputError, match=r"the model has 2 inputs \(x, y\): pass a dict"):
        m.run(x)


def test_non_string_name(model, lenet):
    with pytest.raises(TypeError, match="input names must be str, got int"):
        model.run({0: lenet.input("input")})


def test_model_has_no_public_constructor():
    with pytest.raises(TypeError):
        neoc.Model()


def test_errors_leave_the_model_usable(model, lenet):
    for bad in ({"image": lenet.input("input")}, lenet.input("input").astype(np.float64)):
        with pytest.raises(neoc.InputError):
            model.run(bad)
    lenet.assert_matches(model.run(lenet.input("input")), model)


def test_corrupt_bytes(lenet):
    data = lenet.artifact.read_bytes()
    with pytest.raises(neoc.Error, match=r"^<in-memory artifact>: truncated: expected \d+ bytes"):
        neoc.load_bytes(data[: len(data) // 2])
    # Bytes in memory are copied at load, so their weights are checked there.
    flipped = data[:-100] + bytes(x ^ 0xFF for x in data[-100:])
    with pytest.raises(neoc.Error, match="checksum mismatch in section WEIGHTS"):
        neoc.load_bytes(flipped)
    for not_bytes in ("model.neo", 5, None):
        with pytest.raises(TypeError, match="bytes-like object is required"):
            neoc.load_bytes(not_bytes)
