"""Classify with a compiled model: prints the top class of each batch item.

    python classify.py lenet.neo testmodels/models/lenet/inputs/input.npy
"""

import sys

import numpy as np

import neoc


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} MODEL.neo INPUT.npy")
    model = neoc.load(sys.argv[1])
    print(model)
    x = np.load(sys.argv[2])
    try:
        out = model.run(x)
    except neoc.InputError as e:  # wrong dtype or shape: the message says which
        sys.exit(str(e))
    scores = next(iter(out.values()))
    for i, row in enumerate(scores.reshape(scores.shape[0], -1)):
        print(f"item {i}: class {row.argmax()}  (score {row.max():.4f})")


if __name__ == "__main__":
    main()
