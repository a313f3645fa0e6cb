"""One call from a trained student to a verified `.tflite` file, report and labels."""

import os

from keras_distill import _atomic
from keras_distill import _compat
from keras_distill.export import _examples
from keras_distill.export import convert
from keras_distill.export import latency
from keras_distill.export import verify
from keras_distill.export.labels import LABELS_FILENAME
from keras_distill.export.labels import check_class_names
from keras_distill.export.report import TFLiteReport


def export_and_verify(
    model,
    path: "str | os.PathLike | None" = None,
    quantization: str = "float32",
    representative_data=None,
    x_eval=None,
    y_eval=None,
    class_names=None,
    *,
    int8_io: bool = False,
    calibration_samples: int = convert.DEFAULT_CALIBRATION_SAMPLES,
    latency_runs: int = latency.DEFAULT_LATENCY_RUNS,
    num_threads: int = 1,
    latency_threads=latency.DEFAULT_LATENCY_THREADS,
    warmup_runs: int = latency.DEFAULT_WARMUP_RUNS,
    strict: bool = False,
) -> TFLiteReport:
    """Exports a student to `.tflite`, verifies it in LiteRT, and writes its report.

    This is what the `keras-distill` CLI runs after training. In order: every
    argument is checked and the folder proven writable; the model is converted
    in memory; the bytes are run in the LiteRT interpreter on the evaluation
    data; only then are three files written, each atomically:

    - `path` (e.g. `saved_models/student_int8.tflite`), the model;
    - the report next to it as JSON (`student_int8.json`);
    - `labels.txt` in the same folder, one class name per line, for the app.

    A failure at any step before writing leaves nothing behind.

    Args:
        model: the trained Keras student, taking raw examples (normalization
            inside the model).
        path: the `.tflite` file to write. Defaults to None, which means
            `saved_models/<model.name>_<quantization>.tflite` under the working
            directory.
        quantization: `"float32"`, `"float16"`, `"dynamic"` or `"int8"` (see
            `export_tflite`). Defaults to `"float32"`.
        representative_data: raw training examples to calibrate `"int8"` (an
            array or a tf.data.Dataset of x or (x, y)). Defaults to None.
        x_eval: raw evaluation examples (an array, or a tf.data.Dataset of
            `(x, y)` that then also gives the labels). Required.
        y_eval: evaluation labels, sparse or one-hot. Defaults to None (no
            accuracy unless `x_eval` yields labels).
        class_names: one name per model output, in class-id order. Defaults to
            None, which labels the classes "0", "1", ...
        int8_io: with `"int8"`, int8 input and output tensors. Defaults to
            False.
        calibration_samples: examples drawn from `representative_data`.
            Defaults to 200.
        latency_runs: single-example calls timed per thread count, for the
            median and 90th-percentile latency. Defaults to 50.
        num_threads: LiteRT CPU threads for the evaluation run. Defaults to 1.
        latency_threads: thread counts to time latency at (XNNPACK on that
            many threads); must include 1. Defaults to (1, 4).
        warmup_runs: untimed calls per thread count before timing. Defaults
            to 5.
        strict: with `"int8"`, refuse a file that still computes in float
            (a layer a QAT model left in float, say) instead of writing it
            with those ops listed in the report's `float_ops`. Defaults to
            False.

    Returns:
        The `TFLiteReport` (also saved as the JSON file), with the model's
        MACs per example in `macs`.

    Raises:
        ValueError: a missing `x_eval`, bad class names, an unwritable `path`,
            and every error of `export_tflite` and `verify_tflite`.
        TypeError: see `export_tflite` and `verify_tflite`.
        TFLiteConversionError: the converter rejected the model (its full
            log is then in `<name>.convert.log` next to `path`), or
            `strict=True` found float ops in an int8 file.

    Example:

    >>> report = export_and_verify(student, "saved_models/student_int8.tflite",
    ...                            "int8", representative_data=x_train,
    ...                            x_eval=x_test, y_eval=y_test,
    ...                            class_names=["0", "1", ...])  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    """
    _compat.check_model(model, "model")
    if x_eval is None:
        raise ValueError(
            "`x_eval` is required: the exported file is verified in LiteRT on "
            "evaluation examples (e.g. the test split)."
        )
    if path is None:
        path = convert.default_tflite_path(model, quantization)
    target = _atomic.resolve_output_path(path, argname="path", suffix=".tflite")
    latency.check_latency_threads(latency_threads)
    representative = convert.prepare_conversion(
        model, quantization, representative_data, int8_io, calibration_samples
    )
    num_classes = _examples.model_num_classes(model)
    if class_names is None and num_classes is not None:
        class_names = [str(i) for i in range(num_classes)]
    if class_names is not None:
        class_names = check_class_names(class_names, num_classes)
    # Gather and check the evaluation data now, so a shape or label mistake does
    # not cost a conversion (verify_tflite_content checks again, against the file).
    shape, dtype = _examples.model_input_spec(model)
    x_eval, dataset_y = _examples.collect_examples(
        x_eval, input_shape=shape, input_dtype=dtype, argname="x_eval"
    )
    if y_eval is not None and dataset_y is not None:
        raise ValueError(
            "`x_eval` is a dataset that yields labels and `y_eval` was also given; "
            "pass one."
        )
    y_eval = dataset_y if y_eval is None else y_eval
    if y_eval is not None and num_classes is not None:
        y_eval = _examples.class_ids(
            y_eval, num_examples=len(x_eval), num_classes=num_classes, argname="y_eval"
        )

    created = _atomic.prepare_output_path(target, argname="path")
    labels_path = target.parent / LABELS_FILENAME if class_names else None
    try:
        content = convert.run_converter(
            model, quantization, representative, int8_io, strict=strict, target=target
        )
        report = verify.verify_tflite_content(
            content,
            x_eval,
            y_eval,
            path=target,
            keras_model=model,
            quantization=quantization,
            labels_path=labels_path,
            latency_runs=latency_runs,
            num_threads=num_threads,
            latency_threads=latency_threads,
            warmup_runs=warmup_runs,
        )
        _atomic.write_bytes_atomic(target, content)
        report.save_json(target.with_suffix(".json"))
        if labels_path is not None:
            _atomic.write_text_atomic(labels_path, "\n".join(class_names) + "\n")
    except BaseException:
        _atomic.remove_created_dirs(created)
        raise
    return report
