"""Shared fixtures: models from testmodels/ compiled by the neoc CLI, once per session.

The CLI is ``$NEOC_BIN`` if set, else ``target/debug/neoc`` (what the README's build
command produces). Its absence fails the session rather than skipping the tests.
References are onnxruntime's outputs stored in testmodels/models/<name>/expected/.
"""

import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "testmodels" / "models"

# The artifact's target for this machine (the tests run the artifacts they compile).
TARGETS = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class Case:
    """A test model: its inputs, onnxruntime's outputs and the tolerances to compare with."""

    def __init__(self, name: str, artifact: Path) -> None:
        self.name = name
        self.dir = MODELS / name
        self.artifact = artifact
        case = json.loads((self.dir / "case.json").read_text())
        self.rtol = float(case["rtol"])
        self.atol = float(case["atol"])

    def input(self, name: str) -> np.ndarray:
        return np.load(self.dir / "inputs" / f"{name}.npy")

    def expected(self, name: str) -> np.ndarray:
        return np.load(self.dir / "expected" / f"{name}.npy")

    def assert_matches(self, outputs: dict, model) -> None:
        """Every output of ``model`` is present, in order, and within tolerance."""
        assert list(outputs) == [o.name for o in model.outputs]
        for name, got in outputs.items():
            want = self.expected(name)
            assert got.dtype == want.dtype, name
            assert got.shape == want.shape, name
            np.testing.assert_allclose(
                got, want, rtol=self.rtol, atol=self.atol, err_msg=f"{self.name}: {name}"
            )


def neoc_bin() -> Path:
    path = Path(os.environ.get("NEOC_BIN", REPO / "target" / "debug" / "neoc"))
    if not path.is_file():
        pytest.fail(
            f"neoc CLI not found at {path}: build it (cargo build -p neoc) or set NEOC_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def compile_model(tmp_path_factory):
    """compile_model(name) -> Case, compiling testmodels/models/<name> once per session."""
    out_dir = tmp_path_factory.mktemp("artifacts")
    target = TARGETS.get(platform.machine().lower())
    if target is None:
        pytest.skip(f"no neoc target for this machine ({platform.machine()})")
    cache = {}

    def get(name: str) -> Case:
        if name not in cache:
            artifact = out_dir / f"{name}.neo"
            cmd = [
                str(neoc_bin()), "compile", str(MODELS / name / "model.onnx"),
                "--target", target, "-o", str(artifact), "--quiet",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(cmd)} failed:\n{done.stderr}", pytrace=False)
            cache[name] = Case(name, artifact)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def lenet(compile_model):
    return compile_model("lenet")
