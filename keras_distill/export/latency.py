"""Single-example latency of a `.tflite` file in LiteRT, per thread count.

Median and 90th percentile of `invoke()` alone, through XNNPACK (LiteRT's
default CPU delegate, as on Android), at each thread count asked for.
"""

import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_distill._numbers import check_int
from keras_distill.export._interpreter_io import is_quantized
from keras_distill.export._interpreter_io import open_interpreter
from keras_distill.export._interpreter_io import shape_signature
from keras_distill.export._interpreter_io import to_input

DEFAULT_LATENCY_RUNS = 50
DEFAULT_WARMUP_RUNS = 5
DEFAULT_LATENCY_THREADS = (1, 4)


def _check_threads(value, argname: str) -> tuple[int, ...]:
    hint = f"Defaults to {DEFAULT_LATENCY_THREADS}."
    if isinstance(value, (int, str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(
            f"`{argname}` must be a sequence of thread counts, e.g. (1, 4), got "
            f"{type(value).__name__}: {value!r}. {hint}"
        )
    threads = tuple(check_int(argname, t, 1, hint=hint) for t in value)
    if not threads or len(set(threads)) != len(threads):
        raise ValueError(
            f"`{argname}` must hold distinct thread counts, got {value!r}. {hint}"
        )
    return threads


def check_latency_threads(value) -> tuple[int, ...]:
    """Checks `latency_threads` of a verification: distinct ints >= 1, with 1."""
    threads = _check_threads(value, "latency_threads")
    if 1 not in threads:
        raise ValueError(
            f"`latency_threads` must include 1, got {value!r}: the report's "
            "`latency_ms_median` is the 1-thread median. Pass e.g. (1, 4)."
        )
    return threads


def _latency_interpreter(content: bytes, example: np.ndarray, threads: int):
    """An interpreter ready for single-example calls, and the input it takes."""
    interpreter = Interpreter(model_content=content, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    if shape_signature(detail)[0] is None:
        interpreter.resize_tensor_input(detail["index"], [1, *example.shape[1:]])
    else:  # a fixed batch: time the whole batch, as the app would run it
        example = np.repeat(example, shape_signature(detail)[0], axis=0)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    return interpreter, detail, to_input(example, detail)


def measure_latency(
    content: bytes,
    example=None,
    *,
    threads=DEFAULT_LATENCY_THREADS,
    runs: int = DEFAULT_LATENCY_RUNS,
    warmup_runs: int = DEFAULT_WARMUP_RUNS,
) -> dict[int, dict[str, float]]:
    """Median and 90th-percentile latency of one example, at each thread count.

    Each thread count gets its own `Interpreter(num_threads=n)` with LiteRT's
    default op resolver, which hands the ops it supports to the XNNPACK
    delegate (the default CPU backend, as on Android); XNNPACK runs them on a
    pool of `n` threads. Every interpreter first runs `warmup_runs` untimed
    calls; then the timed calls are interleaved (one call per thread count in
    turn), so a busy machine slows every thread count alike.
    `time.perf_counter` brackets `invoke()` only: setting the input and reading
    the output are outside the timing. A file with a fixed batch axis is timed
    on a whole batch.

    On a machine with fewer cores than threads (or cores busy with other
    work), more threads cannot help and often hurt: report what you measure.

    Args:
        content: the bytes of a `.tflite` file with one input.
        example: one raw example `(1, ...)` (float, or int for integer inputs;
            quantized here for an int8 input). Defaults to None, zeros of the
            input's shape (latency of these kernels does not depend on values).
        threads: the thread counts to time, each an int >= 1. Defaults to
            (1, 4).
        runs: timed calls per thread count. Defaults to 50.
        warmup_runs: untimed calls per thread count before timing. Defaults
            to 5.

    Returns:
        `{threads: {"median": ms, "p90": ms}}`, in milliseconds.

    Raises:
        ValueError: not a valid `.tflite` file; an `example` of the wrong
            shape; thread counts that repeat or are < 1; `runs` < 1;
            `warmup_runs` < 0.
        TypeError: counts that are not ints.

    Example:

    >>> measure_latency(convert_tflite(student), runs=100)  # doctest: +SKIP
    {1: {'median': 0.051, 'p90': 0.068}, 4: {'median': 0.072, 'p90': 1.509}}
    """
    threads = _check_threads(threads, "threads")
    runs = check_int("runs", runs, 1, hint=f"Defaults to {DEFAULT_LATENCY_RUNS}.")
    warmup_runs = check_int(
        "warmup_runs", warmup_runs, 0, hint=f"Defaults to {DEFAULT_WARMUP_RUNS}."
    )
    probe = open_interpreter(content, 1, "`content`")
    in_detail = probe.get_input_details()[0]
    if example is None:
        shape = [1 if d is None else d for d in shape_signature(in_detail)]
        dtype = np.float32 if is_quantized(in_detail) else in_detail["dtype"]
        example = np.zeros([1, *shape[1:]], dtype=dtype)
    example = np.asarray(example)
    expected = shape_signature(in_detail)[1:]
    if (
        len(example.shape) != len(expected) + 1
        or example.shape[0] != 1
        or any(e is not None and e != d for e, d in zip(expected, example.shape[1:]))
    ):
        raise ValueError(
            f"`example` has shape {example.shape}; the file takes one example "
            f"of shape {(1, *expected)}."
        )
    timers = [_latency_interpreter(content, example, n) for n in threads]
    for interpreter, detail, value in timers:
        interpreter.set_tensor(detail["index"], value)
        for _ in range(warmup_runs):
            interpreter.invoke()
    times = [[] for _ in threads]
    for _ in range(runs):
        for (interpreter, detail, value), samples in zip(timers, times):
            interpreter.set_tensor(detail["index"], value)
            start = time.perf_counter()
            interpreter.invoke()
            samples.append(time.perf_counter() - start)
    return {
        n: {
            "median": float(np.median(samples) * 1000.0),
            "p90": float(np.percentile(samples, 90) * 1000.0),
        }
        for n, samples in zip(threads, times)
    }
