"""Type stubs of the native module ``neoc._neoc`` (re-exported by ``neoc``)."""

import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__all__ = ["Model", "TensorInfo", "__version__", "load", "load_bytes"]

__version__: str

_Inputs = Union[Mapping[str, npt.ArrayLike], Sequence[npt.ArrayLike], np.ndarray]

def load(path: Union[str, os.PathLike[str]], threads: Optional[int] = None) -> Model:
    """Loads the artifact at ``path``, validates it and picks the code variant this CPU runs
    best. ``threads``: threads per run (None: one per CPU). Releases the GIL.

    Raises ``ModelNotFoundError`` if the file does not exist, ``Error`` if it is not a valid
    artifact or cannot run on this machine."""

def load_bytes(data: Union[bytes, bytearray, memoryview], threads: Optional[int] = None) -> Model:
    """Loads an artifact held in memory (bytes, bytearray, ...); the weights are copied.
    Errors name it ``<in-memory artifact>``. Releases the GIL."""

@final
class TensorInfo:
    """An input or output of a model."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> Tuple[int, ...]: ...
    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the arrays ``run`` takes and returns for it."""
    @property
    def type(self) -> str:
        """The runtime's name for the element type, e.g. "float32" or "bfloat16"."""

@final
class Model:
    """A loaded model: immutable, safe to run from several threads at once."""

    def run(self, inputs: _Inputs) -> Dict[str, np.ndarray]:
        """Runs the model on a dict {name: array}, a list of arrays in input order, or one
        array (one-input models). Returns {output name: array} in output order. Releases
        the GIL. Raises ``InputError`` (a ``ValueError``) when the inputs do not match."""
    def verify(self) -> None:
        """Checks the weights against the artifact's checksum now (a file's weights are
        otherwise checked on the first run). Raises ``Error`` when they are corrupted."""
    @property
    def inputs(self) -> List[TensorInfo]: ...
    @property
    def outputs(self) -> List[TensorInfo]: ...
    @property
    def target(self) -> str: ...
    @property
    def variant(self) -> Optional[str]: ...
    @property
    def metadata(self) -> Dict[str, str]: ...
    @property
    def compiler_version(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def threads(self) -> int: ...
