"""Run models compiled by neoc (``model.neo``) on NumPy arrays.

>>> import neoc, numpy as np
>>> m = neoc.load("lenet.neo")
>>> out = m.run({"input": np.zeros((2, 1, 28, 28), np.float32)})
>>> out["output"].shape
(2, 10)

A ``Model`` is immutable and may be shared by any number of Python threads; ``run``
releases the GIL, so runs from several threads execute in parallel. Errors are
``neoc.Error`` (a ``RuntimeError``) carrying the runtime's message; see ``InputError`` and
``ModelNotFoundError`` for the subclasses that are also ``ValueError`` and
``FileNotFoundError``.
"""

from ._errors import Error, InputError, ModelNotFoundError
from ._neoc import Model, TensorInfo, __version__, load, load_bytes

__all__ = [
    "Error",
    "InputError",
    "Model",
    "ModelNotFoundError",
    "TensorInfo",
    "__version__",
    "load",
    "load_bytes",
]
