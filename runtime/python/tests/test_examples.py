"""The examples in runtime/python/examples run, and classify.py's answers are
onnxruntime's (the argmax of the stored reference for each batch item)."""

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_classify(lenet):
    out = run(str(EXAMPLES / "classify.py"), str(lenet.artifact),
              str(lenet.dir / "inputs" / "input.npy"))
    got = [int(c) for c in re.findall(r"^item \d+: class (\d+)", out, re.M)]
    assert got == list(lenet.expected("output").argmax(axis=1)), out


def test_timing_prints_figures(lenet):
    out = run(str(EXAMPLES / "timing.py"), str(lenet.artifact), "--runs", "2", "--threads", "1")
    assert re.search(r"neoc\.load: first [\d.]+ ms", out), out
    assert re.search(r"Model\.run: median [\d.]+ ms", out), out
