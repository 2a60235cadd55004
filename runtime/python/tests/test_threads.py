"""One model, many Python threads: every result right, runs really concurrent, and the GIL
released while a model runs.

The GIL checks do not time anything. They set the interpreter's switch interval far
beyond the test's length, so a thread holding the GIL keeps it until it blocks or
releases it itself: any progress another thread makes while a run is in flight can only
come from the run releasing the GIL.
"""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import neoc

THREADS = 8
RUNS = 5


@pytest.fixture
def no_preemption():
    """No GIL hand-over unless a thread blocks or releases it."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_many_threads_share_one_model(lenet):
    model = neoc.load(lenet.artifact, threads=1)
    x = lenet.input("input")
    single = model.run(x)["output"]
    lenet.assert_matches({"output": single}, model)
    start = threading.Barrier(THREADS)

    def work(t):
        start.wait()
        # Half the threads pass a strided view, which is copied first.
        given = x if t % 2 == 0 else np.asfortranarray(x)
        return [model.run({"input": given})["output"] for _ in range(RUNS)]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    for t, runs in enumerate(results):
        for r, got in enumerate(runs):
            np.testing.assert_array_equal(got, single, err_msg=f"thread {t} run {r}")
    # Each run in flight at once had a context of its own; they are kept for reuse.
    assert 1 <= model._idle_contexts <= THREADS


def test_run_releases_the_gil(compile_model, no_preemption):
    case = compile_model("mobilenet_v2")
    model = neoc.load(case.artifact, threads=1)
    x = case.input("input")
    runs = 20
    done = [0]
    ready = threading.Event()

    def worker():
        ready.set()
        for _ in range(runs):
            model.run(x)
            done[0] += 1

    t = threading.Thread(target=worker)
    t.start()
    # Without preemption this thread gets the GIL back only when the worker blocks,
    # releases it or ends. Only run() can release it.
    ready.wait()
    seen = done[0]
    t.join()
    print(f"main thread ran after {seen} of {runs} runs")
    assert seen < runs, "the main thread only ran once every run was over: run() kept the GIL"


def test_two_threads_run_at_once(compile_model, no_preemption):
    case = compile_model("mobilenet_v2")
    model = neoc.load(case.artifact, threads=1)
    x = case.input("input")
    want = model.run(x)["output"]
    assert model._idle_contexts == 1
    outputs = []

    def worker():
        for _ in range(10):
            outputs.append(model.run(x)["output"])

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"contexts made: {model._idle_contexts}")
    # Two runs overlapped only if both threads were inside run() at once, which needs a
    # second context: the first was busy.
    assert model._idle_contexts == 2
    for got in outputs:
        np.testing.assert_array_equal(got, want)
