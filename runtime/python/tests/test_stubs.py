"""The type stubs (python/neoc/_neoc.pyi) agree with the installed native module:
mypy's stubtest compares every name, signature and class in both, and the examples type
check under --strict."""

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def mypy(*args: str) -> subprocess.CompletedProcess:
    # Run in a scratch directory: mypy writes its cache there, and `import neoc` can only
    # find the installed package.
    with tempfile.TemporaryDirectory() as scratch:
        return subprocess.run(
            [sys.executable, "-m", *args], capture_output=True, text=True, cwd=scratch
        )


def test_stubs_match_the_module():
    done = mypy("mypy.stubtest", "neoc")
    assert done.returncode == 0, done.stdout + done.stderr


def test_examples_type_check():
    examples = HERE.parent / "examples"
    done = mypy("mypy", "--strict", str(examples))
    assert done.returncode == 0, done.stdout + done.stderr
