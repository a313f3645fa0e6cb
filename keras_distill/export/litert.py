"""Verifying a `.tflite` file by running it in the LiteRT interpreter.

What an Android app will run is the file, not the Keras model, so every number
in the report comes from `ai_edge_litert.interpreter.Interpreter` running that
file on raw examples: accuracy, agreement with Keras, size, gzip size and
single-example latency (median and 90th percentile at 1 and 4 threads, through
XNNPACK, LiteRT's default CPU delegate).
"""

import gzip
import importlib.metadata
import os
import pathlib
import time

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_distill import _compat
from keras_distill._numbers import check_int
from keras_distill.compress import registry
from keras_distill.export import _examples
from keras_distill.export.float_ops import find_float_ops
from keras_distill.export.macs import count_macs
from keras_distill.export.report import TFLiteReport

DEFAULT_LATENCY_RUNS = 50
DEFAULT_BATCH_SIZE = 256
DEFAULT_WARMUP_RUNS = 5
DEFAULT_LATENCY_THREADS = (1, 4)


def _positive_int(value, argname: str, default: int) -> int:
    return check_int(argname, value, 1, hint=f"Defaults to {default}.")


def _interpreter(content: bytes, num_threads: int, label: str) -> Interpreter:
    try:
        return Interpreter(model_content=content, num_threads=num_threads)
    except ValueError as err:
        raise ValueError(f"{label} is not a valid .tflite model: {err}") from err


def _is_quantized(detail: dict) -> bool:
    scale, _ = detail["quantization"]
    return np.dtype(detail["dtype"]).kind in "iu" and scale != 0


def _to_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Raw examples in the tensor's dtype, quantized as an app must do for int8."""
    dtype = np.dtype(detail["dtype"])
    if not _is_quantized(detail):
        return x.astype(dtype, copy=False)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float64) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def _from_output(out: np.ndarray, detail: dict) -> np.ndarray:
    if not _is_quantized(detail):
        return out.astype(np.float32, copy=False)
    scale, zero_point = detail["quantization"]
    return ((out.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _signature(detail: dict) -> tuple:
    return tuple(None if d < 0 else int(d) for d in detail["shape_signature"])


def _run_all(interpreter: Interpreter, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Runs every example through the interpreter, in fixed-size chunks.

    A free batch axis is resized once to `batch_size` (much faster than one
    call per example, and the kernels compute each row independently); the last
    chunk is padded, so there is a single allocation. A file with a fixed batch
    runs at that batch.
    """
    in_detail = interpreter.get_input_details()[0]
    signature = _signature(in_detail)
    if signature[0] is None:
        chunk = min(batch_size, len(x))
        interpreter.resize_tensor_input(in_detail["index"], [chunk, *x.shape[1:]])
    else:
        chunk = signature[0]
    interpreter.allocate_tensors()
    in_detail = interpreter.get_input_details()[0]
    out_detail = interpreter.get_output_details()[0]
    outputs = []
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        filled = len(part)
        if filled < chunk:
            pad = np.zeros((chunk - filled, *part.shape[1:]), dtype=part.dtype)
            part = np.concatenate([part, pad])
        interpreter.set_tensor(in_detail["index"], part)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out_detail["index"])[:filled].copy())
    return _from_output(np.concatenate(outputs), out_detail)


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


def _uses_xnnpack(interpreter: Interpreter) -> bool | None:
    """Whether the default delegate (XNNPACK on CPU) took over some ops.

    A delegated subgraph shows up as a node named DELEGATE. The method is
    private in ai_edge_litert, so None when it is gone.
    """
    try:
        ops = interpreter._get_ops_details()
    except AttributeError:
        return None
    return any(op.get("op_name") == "DELEGATE" for op in ops)


def _latency_interpreter(content: bytes, example: np.ndarray, threads: int):
    """An interpreter ready for single-example calls, and the input it takes."""
    interpreter = Interpreter(model_content=content, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    if _signature(detail)[0] is None:
        interpreter.resize_tensor_input(detail["index"], [1, *example.shape[1:]])
    else:  # a fixed batch: time the whole batch, as the app would run it
        example = np.repeat(example, _signature(detail)[0], axis=0)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    return interpreter, detail, _to_input(example, detail)


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
    runs = _positive_int(runs, "runs", DEFAULT_LATENCY_RUNS)
    warmup_runs = check_int(
        "warmup_runs", warmup_runs, 0, hint=f"Defaults to {DEFAULT_WARMUP_RUNS}."
    )
    probe = _interpreter(content, 1, "`content`")
    in_detail = probe.get_input_details()[0]
    if example is None:
        shape = [1 if d is None else d for d in _signature(in_detail)]
        dtype = np.float32 if _is_quantized(in_detail) else in_detail["dtype"]
        example = np.zeros([1, *shape[1:]], dtype=dtype)
    example = np.asarray(example)
    expected = _signature(in_detail)[1:]
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


def _check_keras_model(keras_model, input_shape, num_classes):
    _compat.check_model(keras_model, "keras_model")
    shape, dtype = _examples.model_input_spec(keras_model, "keras_model")
    classes = _examples.model_num_classes(keras_model, "keras_model")
    same_shape = len(shape) == len(input_shape) and all(
        a is None or b is None or a == b
        for a, b in zip(shape[1:], input_shape[1:], strict=True)
    )
    if not same_shape or classes not in (None, num_classes):
        raise ValueError(
            f"`keras_model` takes {shape} and gives {classes} outputs, but the "
            f".tflite file takes {input_shape} and gives {num_classes}: pass the "
            "Keras model the file was converted from."
        )
    return dtype


def _layer_names(keras_model) -> list[str]:
    return [layer.name for layer in registry.walk_layers(keras_model)]


def _keras_logits(keras_model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The Keras model's outputs on `x`, called in inference mode chunk by chunk.

    Not `predict`: its tf.function traces again for every model and for the
    shorter last chunk, and after a few models verified in one process (the
    demo verifies three) TensorFlow logs a retracing warning per call.
    """
    chunks = [
        np.asarray(keras_model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(chunks)


def verify_tflite_content(
    content: bytes,
    x,
    y=None,
    *,
    path: "str | os.PathLike" = "<memory>",
    keras_model=None,
    quantization: str | None = None,
    labels_path: "str | os.PathLike | None" = None,
    latency_runs: int = DEFAULT_LATENCY_RUNS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_threads: int = 1,
    latency_threads=DEFAULT_LATENCY_THREADS,
    warmup_runs: int = DEFAULT_WARMUP_RUNS,
) -> TFLiteReport:
    """Like `verify_tflite`, on the bytes of a `.tflite` file not yet written.

    `export_and_verify` uses it to verify the exact bytes before writing them,
    so a file that fails in LiteRT is never written. `path` and `labels_path`
    only fill the report.
    """
    latency_runs = _positive_int(latency_runs, "latency_runs", DEFAULT_LATENCY_RUNS)
    latency_threads = check_latency_threads(latency_threads)
    warmup_runs = check_int(
        "warmup_runs", warmup_runs, 0, hint=f"Defaults to {DEFAULT_WARMUP_RUNS}."
    )
    batch_size = _positive_int(batch_size, "batch_size", DEFAULT_BATCH_SIZE)
    num_threads = _positive_int(num_threads, "num_threads", 1)
    interpreter = _interpreter(content, num_threads, f"{str(path)!r}")
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1 or len(outputs[0]["shape"]) != 2:
        raise ValueError(
            f"{str(path)!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
            "verification takes classifiers with one input and one (batch, "
            "classes) output."
        )
    in_detail, out_detail = inputs[0], outputs[0]
    input_shape = _signature(in_detail)
    num_classes = int(out_detail["shape"][-1])
    # A quantized input is fed raw float examples, quantized here like an app does.
    raw_dtype = np.dtype(in_detail["dtype"])
    if _is_quantized(in_detail):
        raw_dtype = np.dtype(np.float32)
    keras_dtype = None
    if keras_model is not None:
        keras_dtype = _check_keras_model(keras_model, input_shape, num_classes)
    x, dataset_y = _examples.collect_examples(
        x, input_shape=input_shape, input_dtype=raw_dtype, argname="x"
    )
    if y is not None and dataset_y is not None:
        raise ValueError(
            "`x` is a dataset that yields labels and `y` was also given; pass one."
        )
    y = dataset_y if y is None else y
    labels = None
    if y is not None:
        labels = _examples.class_ids(
            y, num_examples=len(x), num_classes=num_classes, argname="y"
        )

    float_ops = None
    if quantization == "int8":
        names = () if keras_model is None else _layer_names(keras_model)
        float_ops = find_float_ops(content, names)
    logits = _run_all(interpreter, _to_input(x, in_detail), batch_size)
    predicted = logits.argmax(axis=1)
    latency = measure_latency(
        content,
        x[:1],
        threads=latency_threads,
        runs=latency_runs,
        warmup_runs=warmup_runs,
    )
    report = TFLiteReport(
        path=str(path),
        quantization=quantization,
        input_dtype=np.dtype(in_detail["dtype"]).name,
        output_dtype=np.dtype(out_detail["dtype"]).name,
        input_shape=[-1 if d is None else d for d in input_shape],
        num_classes=num_classes,
        num_examples=len(x),
        accuracy=None if labels is None else float(np.mean(predicted == labels)),
        file_bytes=len(content),
        gzip_bytes=len(gzip.compress(content, compresslevel=9, mtime=0)),
        latency_ms_median=latency[1]["median"],
        latency_runs=latency_runs,
        num_threads=num_threads,
        latency_ms_p90=latency[1]["p90"],
        latency_ms_by_threads={str(n): stats for n, stats in latency.items()},
        warmup_runs=warmup_runs,
        xnnpack=_uses_xnnpack(interpreter),
        labels_path=None if labels_path is None else str(labels_path),
        keras_flavour=_compat.FLAVOUR,
        tensorflow_version=tf.__version__,
        litert_version=importlib.metadata.version("ai-edge-litert"),
        float_ops=float_ops,
    )
    if keras_model is not None:
        keras_logits = _keras_logits(keras_model, x.astype(keras_dtype), batch_size)
        keras_predicted = keras_logits.argmax(axis=1)
        report.top1_agreement = float(np.mean(predicted == keras_predicted))
        report.max_abs_logit_diff = float(np.max(np.abs(logits - keras_logits)))
        if labels is not None:
            report.keras_accuracy = float(np.mean(keras_predicted == labels))
        try:
            report.macs = count_macs(keras_model)
        except ValueError:  # free spatial dimensions: no fixed count
            report.macs = None
    return report


def verify_tflite(
    path: "str | os.PathLike",
    x,
    y=None,
    *,
    keras_model=None,
    quantization: str | None = None,
    latency_runs: int = DEFAULT_LATENCY_RUNS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_threads: int = 1,
    latency_threads=DEFAULT_LATENCY_THREADS,
    warmup_runs: int = DEFAULT_WARMUP_RUNS,
) -> TFLiteReport:
    """Runs a `.tflite` classifier in LiteRT and reports accuracy, size and speed.

    Use it on any exported file before it ships: the report says what the app
    will get. Pass raw float (or integer) examples exactly as the dataset gives
    them; a file with int8 input/output is fed and read through its tensors'
    scale and zero point, as an app would.

    Args:
        path: the `.tflite` file.
        x: raw evaluation examples: an array `(N, ...)` or a tf.data.Dataset of
            `x` or `(x, y)` (batched or not).
        y: labels, sparse `(N,)` or one-hot `(N, classes)`; None for no
            accuracy (or when `x` yields them). Defaults to None.
        keras_model: the Keras model the file came from, to report its accuracy,
            top-1 agreement, the largest logit difference on the same examples
            and its MACs per example (`count_macs`). Defaults to None.
        quantization: the mode the file was converted with, recorded in the
            report; with `"int8"` the report also lists the ops that still
            compute in float (`float_ops`). Defaults to None.
        latency_runs: single-example calls timed per thread count, for the
            median and 90th percentile (see `measure_latency`). Defaults to 50.
        batch_size: examples per interpreter call during evaluation. Defaults
            to 256.
        num_threads: interpreter CPU threads for the evaluation run (accuracy
            and agreement). Defaults to 1.
        latency_threads: the thread counts latency is timed at, XNNPACK
            running each on that many threads; must include 1, the thread count
            of `latency_ms_median`. Defaults to (1, 4).
        warmup_runs: untimed calls per thread count before timing. Defaults
            to 5.

    Returns:
        A `TFLiteReport`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: not a valid classifier `.tflite` file; examples or labels
            of the wrong shape; a `keras_model` that does not match the file;
            `latency_threads` without 1 or with repeats; counts below 1
            (`warmup_runs` below 0).
        TypeError: examples or labels of the wrong dtype; `latency_runs`,
            `batch_size`, `num_threads`, `warmup_runs` or a thread count that
            is not an int.

    Example:

    >>> report = verify_tflite("saved_models/student_int8.tflite",
    ...                        x_test, y_test, keras_model=student)  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    """
    file = pathlib.Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"`path` {str(path)!r} is not a file.")
    return verify_tflite_content(
        file.read_bytes(),
        x,
        y,
        path=file.absolute(),
        keras_model=keras_model,
        quantization=quantization,
        latency_runs=latency_runs,
        batch_size=batch_size,
        num_threads=num_threads,
        latency_threads=latency_threads,
        warmup_runs=warmup_runs,
    )
