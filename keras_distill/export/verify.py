"""Verifying a `.tflite` file by running it in the LiteRT interpreter.

What an Android app will run is the file, not the Keras model, so every number
in the report comes from `ai_edge_litert.interpreter.Interpreter` running that
file on raw examples: accuracy, agreement with Keras, size, gzip size and
single-example latency (`latency.measure_latency`: median and 90th percentile
at 1 and 4 threads, through XNNPACK, LiteRT's default CPU delegate).
"""

import gzip
import importlib.metadata
import os
import pathlib

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_distill import _compat
from keras_distill._numbers import check_int
from keras_distill.export import _examples
from keras_distill.export._interpreter_io import from_output
from keras_distill.export._interpreter_io import is_quantized
from keras_distill.export._interpreter_io import open_interpreter
from keras_distill.export._interpreter_io import shape_signature
from keras_distill.export._interpreter_io import to_input
from keras_distill.export.float_ops import find_float_ops
from keras_distill.export.float_ops import layer_names
from keras_distill.export.latency import DEFAULT_LATENCY_RUNS
from keras_distill.export.latency import DEFAULT_LATENCY_THREADS
from keras_distill.export.latency import DEFAULT_WARMUP_RUNS
from keras_distill.export.latency import check_latency_threads
from keras_distill.export.latency import measure_latency
from keras_distill.export.macs import count_macs
from keras_distill.export.report import TFLiteReport

DEFAULT_BATCH_SIZE = 256


def _positive_int(value, argname: str, default: int) -> int:
    return check_int(argname, value, 1, hint=f"Defaults to {default}.")


def _run_all(interpreter: Interpreter, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Runs every example through the interpreter, in fixed-size chunks.

    A free batch axis is resized once to `batch_size` (much faster than one
    call per example, and the kernels compute each row independently); the last
    chunk is padded, so there is a single allocation. A file with a fixed batch
    runs at that batch.
    """
    in_detail = interpreter.get_input_details()[0]
    signature = shape_signature(in_detail)
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
    return from_output(np.concatenate(outputs), out_detail)


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
    interpreter = open_interpreter(content, num_threads, f"{str(path)!r}")
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1 or len(outputs[0]["shape"]) != 2:
        raise ValueError(
            f"{str(path)!r} has {len(inputs)} inputs and {len(outputs)} outputs; "
            "verification takes classifiers with one input and one (batch, "
            "classes) output."
        )
    in_detail, out_detail = inputs[0], outputs[0]
    input_shape = shape_signature(in_detail)
    num_classes = int(out_detail["shape"][-1])
    # A quantized input is fed raw float examples, quantized here like an app does.
    raw_dtype = np.dtype(in_detail["dtype"])
    if is_quantized(in_detail):
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
        names = () if keras_model is None else layer_names(keras_model)
        float_ops = find_float_ops(content, names)
    logits = _run_all(interpreter, to_input(x, in_detail), batch_size)
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
