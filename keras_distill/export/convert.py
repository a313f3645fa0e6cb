"""Converting a Keras student to a `.tflite` file for LiteRT (Android).

Four post-training modes, plus models trained with quantization-aware training:

- `"float32"`: no quantization; the reference, as accurate as Keras.
- `"float16"`: weights stored as float16, about half the size; the CPU computes
  in float32, GPU delegates in float16.
- `"dynamic"`: weights stored as int8, activations quantized on the fly; about a
  quarter of the size, no calibration data needed.
- `"int8"`: full-integer; weights and activations int8, calibrated on
  representative data drawn from the training data. About a quarter of the
  size, integer-only kernels, and what integer-only accelerators (Edge TPU,
  many NPUs) need. With `int8_io=True`
  the file's input and output tensors are int8 too.
- A QAT model (from `keras_distill.compress.quantize`: TF-MOT on tf_keras, our
  own engine on Keras 3) exports with `quantization="int8"`: its learned ranges
  replace calibration, so representative data is optional.

The converter is `tf.lite.TFLiteConverter` with TFLite builtin ops only (no TF
Select), so the file runs on the standard LiteRT runtime with no Flex delegate.
"""

import contextlib
import os
import pathlib
import re
import tempfile
import warnings

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_distill import _atomic
from keras_distill import _compat
from keras_distill._numbers import check_int
from keras_distill.compress import _engine
from keras_distill.compress import _layers
from keras_distill.export import _examples
from keras_distill.export import converter_log
from keras_distill.export import dedup
from keras_distill.export import recurrent
from keras_distill.export.float_ops import find_float_ops
from keras_distill.export.float_ops import layer_names

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
DEFAULT_CALIBRATION_SAMPLES = 200
DEFAULT_DIR = "saved_models"


class TFLiteConversionError(ValueError):
    """The TFLite converter rejected the model; nothing was written."""


def is_qat_model(model) -> bool:
    """Whether `model` was prepared for quantization-aware training.

    By `keras_distill.compress.quantize` on either engine (TF-MOT's wrappers on
    tf_keras, our fake-quantized layers on Keras 3): it exports as int8 with
    the ranges it learned, so it needs no representative data.
    """
    return _engine.is_qat_model(model)


def default_tflite_path(model, quantization: str) -> pathlib.Path:
    """`saved_models/<model name>_<quantization>.tflite` under the working directory."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.name) or "model"
    return pathlib.Path.cwd() / DEFAULT_DIR / f"{name}_{quantization}.tflite"


def _check_options(model, quantization, representative_data, int8_io, samples):
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS}, got {quantization!r}."
        )
    # Our Keras 3 engine keeps the student's layers and its kernels hold the
    # zeros, so only TF-MOT's wrappers stand between a pruned model and export.
    if _compat.LEGACY_KERAS and _engine.is_pruned(model):
        raise ValueError(
            "`model` still has pruning wrappers (PruneLowMagnitude). Remove them "
            "before export with keras_distill.compress.strip_pruning(model); the "
            "zeroed weights stay zero and gzip shrinks the file."
        )
    qat = is_qat_model(model)
    if qat and quantization != "int8":
        raise ValueError(
            f"`model` was trained with quantization-aware training, so it exports "
            f"as an int8 model: pass quantization='int8', not {quantization!r}."
        )
    if quantization == "int8" and not qat:
        _check_normalization_for_int8(model)
    recurrent.check_recurrent(model)
    if quantization == "int8" and not qat and representative_data is None:
        raise ValueError(
            "quantization='int8' needs `representative_data`: a few hundred raw "
            "training examples (a NumPy array or a tf.data.Dataset of x or (x, y)) "
            "to calibrate the activation ranges."
        )
    if quantization != "int8" and representative_data is not None:
        raise ValueError(
            f"`representative_data` is only used by quantization='int8'; "
            f"{quantization!r} does not calibrate. Drop it or choose 'int8'."
        )
    if int8_io and quantization != "int8":
        raise ValueError(
            f"`int8_io=True` needs quantization='int8', got {quantization!r}."
        )
    check_int(
        "calibration_samples",
        samples,
        1,
        hint=f"Defaults to {DEFAULT_CALIBRATION_SAMPLES}.",
    )


# Full-integer quantization stores a Normalization layer's per-feature 1/std as
# one int8 tensor (scale = max / 127): a feature whose 1/std is below half a step,
# i.e. whose std is over 254x the smallest, is multiplied by exactly 0.
_INT8_STD_RATIO_LIMIT = 254.0


def _check_normalization_for_int8(model) -> None:
    """Refuses Normalization layers that full-int8 would silently break.

    `adapt` on data with a constant feature (a blank image border) gives it
    variance 0, so Keras divides by `epsilon` (1e-7); the int8 file then zeroes
    every other feature. Measured on sklearn digits: 9% accuracy instead of 89%.
    """
    keras = _compat.keras
    for layer in _layers.walk_layers(model):
        if not isinstance(layer, keras.layers.Normalization) or layer.invert:
            continue
        variance = getattr(layer, "variance", None)
        if variance is None:
            continue
        variance = np.asarray(variance, dtype=np.float64).ravel()
        std = np.maximum(np.sqrt(variance), keras.backend.epsilon())
        ratio = std.max() / std.min()
        if ratio <= _INT8_STD_RATIO_LIMIT:
            continue
        lost = int(np.sum(std > _INT8_STD_RATIO_LIMIT * std.min()))
        raise ValueError(
            f"`model` layer {layer.name!r} (Normalization) cannot be quantized to "
            f"full int8: its per-feature standard deviations range from "
            f"{std.min():.3g} to {std.max():.3g} ({int(np.sum(variance == 0))} "
            "features have variance 0, e.g. constant in the data it was adapted "
            "on). int8 stores 1/std as one tensor, so "
            f"{lost} features would be multiplied by 0 and the file would be "
            "wrong. Floor the variance and rebuild the layer, e.g. "
            "keras.layers.Normalization(mean=layer.mean, "
            "variance=np.maximum(layer.variance, 1e-4 * np.max(layer.variance))) "
            "(for pixels prefer keras.layers.Rescaling(1 / 255)), or export with "
            "quantization='dynamic'."
        )


def _representative_dataset(model, data, samples: int):
    """A converter callback over checked, bounded, model-typed examples."""
    if data is None:
        return None
    shape, dtype = _examples.model_input_spec(model)
    x, _ = _examples.collect_examples(
        data,
        input_shape=shape,
        input_dtype=dtype,
        argname="representative_data",
        limit=samples,
    )
    x = x.astype(dtype, copy=False)

    def generate():
        for i in range(len(x)):
            yield [x[i : i + 1]]

    return generate


def prepare_conversion(
    model, quantization, representative_data, int8_io, calibration_samples
):
    """Validates every argument; returns the representative callback (or None)."""
    _compat.check_model(model, "model")
    _check_options(
        model, quantization, representative_data, int8_io, calibration_samples
    )
    return _representative_dataset(model, representative_data, calibration_samples)


@contextlib.contextmanager
def _converter_for(model):
    """A TFLiteConverter for either Keras flavour.

    tf_keras: `from_keras_model`, the documented path (also for QAT models).
    Keras 3: `model.export` writes an inference-mode SavedModel (what
    `from_keras_model` itself does for Keras 3, but quietly and without its silent
    fallback to the tf_keras-only pipeline when export fails), then
    `from_saved_model`.
    """
    if _compat.LEGACY_KERAS:
        yield tf.lite.TFLiteConverter.from_keras_model(model)
        return
    with tempfile.TemporaryDirectory(prefix="keras_distill_export_") as tmp:
        saved = os.path.join(tmp, "saved_model")
        try:
            model.export(saved, format="tf_saved_model", verbose=False)
        except Exception as err:
            raise TFLiteConversionError(
                f"`model` ({model.name}) could not be traced for export: "
                f"{type(err).__name__}: {err}. (Functional and Sequential "
                "models built on keras.Input trace; a subclassed model must have "
                "been called on data first.) Nothing was written."
            ) from err
        yield tf.lite.TFLiteConverter.from_saved_model(saved)


_REJECTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


def default_log_path(target: "pathlib.Path | None") -> pathlib.Path:
    """`<name>.convert.log` next to the intended output, or in a new temp folder."""
    if target is not None:
        return target.with_suffix(".convert.log")
    return pathlib.Path(tempfile.mkdtemp(prefix="keras_distill_")) / "convert.log"


def _write_log(text: str, target: "pathlib.Path | None") -> str:
    """Writes the converter's log; its path, or a note when it cannot be written."""
    log_path = default_log_path(target)
    try:
        _atomic.write_text_atomic(log_path, text)
    except OSError as err:
        return f"(could not be written to {str(log_path)!r}: {err})"
    return repr(str(log_path))


def _conversion_error(model, quantization: str, err: Exception, log: str, target):
    """One readable error: the failing layer if the log names it, and the fix."""
    log = f"{log}\n{type(err).__name__}: {err}\n"
    where = _write_log(log, target)
    names = converter_log.layers_named(log, layer_names(model))
    at = f" at layer {names[0]!r}" if names else ""
    rejected = sorted(set(_REJECTED_OP.findall(log)))
    if rejected:
        return TFLiteConversionError(
            f"The TFLite converter rejected `model` ({model.name}, "
            f"quantization={quantization!r}){at}: these TensorFlow ops have no "
            f"TFLite builtin kernel: {', '.join(rejected)}. Replace the layers "
            "that use them (often a Lambda or custom layer) with standard Keras "
            "layers; keras_distill exports builtin ops only, so the file runs on "
            "the standard LiteRT runtime on Android. The converter's full log "
            f"is in {where}. Nothing was written."
        )
    reason = converter_log.first_error(log)
    if reason is None:
        reason = f"{type(err).__name__}: " + " ".join(str(err).split())[:300]
    return TFLiteConversionError(
        f"The TFLite converter failed on `model` ({model.name}, "
        f"quantization={quantization!r}){at}: {reason}. Export a model of "
        "standard Keras layers (a Lambda, custom layer or control flow is the "
        "usual cause), or try another quantization. The converter's full log "
        f"is in {where}. Nothing was written."
    )


def check_float_ops(model, content: bytes, quantization: str) -> None:
    """Refuses an int8 file that still computes in float (`strict=True`).

    Raises:
        TFLiteConversionError: naming the float ops and what to do.
    """
    if quantization != "int8":
        return
    found = find_float_ops(content, layer_names(model))
    if not found:
        return
    fix = (
        "quantize those layers too (keras_distill.compress.quantize with them "
        "in `layers=`, or a layer its engine supports)"
        if is_qat_model(model)
        else "replace the layers they come from"
    )
    raise TFLiteConversionError(
        f"`strict=True`: the int8 file of `model` ({model.name}) still computes "
        f"in float in {len(found)} ops: {'; '.join(found)}. Either {fix}, or "
        "pass strict=False to accept them (the report lists them in "
        "`float_ops`). Nothing was written."
    )


def _io_dtypes(content: bytes) -> tuple[np.dtype, np.dtype]:
    interpreter = Interpreter(model_content=content)
    return (
        np.dtype(interpreter.get_input_details()[0]["dtype"]),
        np.dtype(interpreter.get_output_details()[0]["dtype"]),
    )


def convert_tflite(
    model,
    *,
    quantization: str = "float32",
    representative_data=None,
    int8_io: bool = False,
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
    strict: bool = False,
) -> bytes:
    """Converts a Keras model to TFLite flatbuffer bytes, in memory.

    Use this when you handle the bytes yourself; `export_tflite` writes them
    atomically, `export_and_verify` also runs them in LiteRT.

    Args:
        model: a Keras model (the flavour keras_distill runs on) taking raw
            examples; any normalization should be a layer inside it.
        quantization: one of `"float32"`, `"float16"`, `"dynamic"`, `"int8"`
            (see the module docstring). A QAT model takes `"int8"`. Defaults to
            `"float32"`.
        representative_data: raw training examples to calibrate `"int8"`: an
            array shaped like the model input, or a tf.data.Dataset of `x` or
            `(x, y)` (batched or not). Required for `"int8"` unless the model is
            a QAT model; refused for the other modes. Defaults to None.
        int8_io: with `"int8"`, make the file's input and output tensors int8
            (apps then quantize inputs with the input tensor's scale and zero
            point); otherwise they stay float32. Defaults to False.
        calibration_samples: how many examples of `representative_data` to
            calibrate on (a seeded random subset of an array, the first ones of a
            dataset). Defaults to 200.
        strict: with `"int8"`, refuse a file that still computes in float
            (ops `find_float_ops` lists, e.g. a layer a QAT model left in
            float); otherwise such ops are kept and the report lists them.
            The way to demand an integer-only file, QAT models included.
            Defaults to False.

    Returns:
        The `.tflite` file's bytes.

    Raises:
        TypeError: `model` is not a Keras model of the flavour in use,
            `representative_data` has the wrong type or dtype, or
            `calibration_samples` is not an int.
        ValueError: an unknown `quantization`, a missing or refused
            `representative_data`, representative examples of the wrong shape,
            or a pruning-wrapped model.
        TFLiteConversionError: the converter rejected the model (e.g. an op with
            no TFLite builtin kernel; its full log goes to a temporary
            `.convert.log` file the error names), could not give int8
            input/output, or `strict=True` found float ops.

    Example:

    >>> content = convert_tflite(student, quantization="dynamic")  # doctest: +SKIP
    """
    representative = prepare_conversion(
        model, quantization, representative_data, int8_io, calibration_samples
    )
    return run_converter(model, quantization, representative, int8_io, strict=strict)


def run_converter(
    model,
    quantization: str,
    representative,
    int8_io: bool,
    *,
    strict: bool = False,
    target: "pathlib.Path | None" = None,
) -> bytes:
    """Runs the converter on already-checked arguments.

    Recurrent layers are unrolled (see `recurrent`), and identical constant
    tensors of the file merged (see `dedup`). The converter's log is
    kept out of the terminal; on failure it is written next to `target` (a
    temporary file without one) and the error names it.
    """
    with _converter_for(recurrent.unrolled(model)) as converter:
        if quantization != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if representative is not None:
            converter.representative_dataset = representative
            # Fail on an op that cannot run in int8 instead of silently
            # leaving it in float32 in a file labelled "int8". Not for QAT
            # models: the converter would recalibrate the float islands they
            # keep by design (LSTM/GRU gates, LayerNormalization) from these
            # examples, not from training (docs/export.md); `strict` is their
            # integer-only check.
            if not is_qat_model(model):
                converter.target_spec.supported_ops = [
                    tf.lite.OpsSet.TFLITE_BUILTINS_INT8
                ]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        try:
            with converter_log.captured_stderr() as log, warnings.catch_warnings():
                # Emitted on every integer conversion; the ranges come from the
                # representative data or the QAT model, so it says nothing.
                warnings.filterwarnings(
                    "ignore", message="Statistics for quantized inputs were expected"
                )
                content = converter.convert()
        except Exception as err:
            error = _conversion_error(model, quantization, err, log[0], target)
            raise error from None
    # An unrolled recurrent layer's int8 file has one copy of each bias per
    # time step; merged, they are one (see `dedup`).
    content = dedup.deduplicate_constants(content)
    if int8_io:
        in_dtype, out_dtype = _io_dtypes(content)
        if in_dtype != np.int8 or out_dtype != np.int8:
            raise TFLiteConversionError(
                f"`int8_io=True` was asked, but the converted file has {in_dtype} "
                f"input and {out_dtype} output: the model's first or last layer "
                "was not quantized (for QAT models, a layer `compress.quantize` "
                "left in float, such as Normalization: the report's float_ops "
                "names them). Export with int8_io=False. "
                "Nothing was written."
            )
    if strict:
        check_float_ops(model, content, quantization)
    return content


def export_tflite(
    model,
    path: "str | os.PathLike | None" = None,
    *,
    quantization: str = "float32",
    representative_data=None,
    int8_io: bool = False,
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
    strict: bool = False,
) -> pathlib.Path:
    """Converts a Keras model to a `.tflite` file, written atomically.

    The path is checked for writability before the (slow) conversion, the
    conversion happens in memory, and the bytes reach `path` through a temporary
    file and `os.replace`: a failure at any point leaves no file, and an existing
    file at `path` is either kept or wholly replaced. To also run the file in
    LiteRT and get a report, use `export_and_verify`.

    Args:
        model: a Keras model taking raw examples (normalization inside it).
        path: the `.tflite` file to write, relative to the working directory or
            absolute; missing folders are created. Defaults to None, which means
            `saved_models/<model.name>_<quantization>.tflite`.
        quantization: `"float32"`, `"float16"`, `"dynamic"` or `"int8"`.
            Defaults to `"float32"`.
        representative_data: calibration examples for `"int8"` (see
            `convert_tflite`). Defaults to None.
        int8_io: int8 input and output tensors (with `"int8"`). Defaults to
            False.
        calibration_samples: examples drawn from `representative_data`.
            Defaults to 200.
        strict: with `"int8"`, refuse a file that still computes in float
            (see `convert_tflite`). Defaults to False.

    Returns:
        The absolute path of the written file.

    Raises:
        ValueError: an unwritable `path` or one not ending in `.tflite`, and the
            bad options `convert_tflite` names.
        TypeError: see `convert_tflite`.
        TFLiteConversionError: the converter rejected the model (its full log
            is then written next to `path` as `<name>.convert.log`), or
            `strict=True` found float ops in an int8 file.

    Example:

    >>> path = export_tflite(student, "saved_models/student_int8.tflite",
    ...                      quantization="int8",
    ...                      representative_data=x_train)  # doctest: +SKIP
    """
    _compat.check_model(model, "model")
    if path is None:
        path = default_tflite_path(model, quantization)
    target = _atomic.resolve_output_path(path, argname="path", suffix=".tflite")
    representative = prepare_conversion(
        model, quantization, representative_data, int8_io, calibration_samples
    )
    created = _atomic.prepare_output_path(target, argname="path")
    try:
        content = run_converter(
            model, quantization, representative, int8_io, strict=strict, target=target
        )
        _atomic.write_bytes_atomic(target, content)
    except BaseException:
        _atomic.remove_created_dirs(created)
        raise
    return target
