"""The demo's export stage: `.tflite` files verified in LiteRT, and labels.txt.

All the work is `keras_distill.export.export_and_verify`; this picks the file
name, the evaluation examples and, for post-training int8, calibration examples.
"""

import os
import pathlib

CALIBRATION_EXAMPLES = 500


def export(
    model,
    data,
    output_dir: "str | os.PathLike",
    name: str,
    quantization: str,
    *,
    latency_runs: int = 100,
):
    """Writes `<name>_<quantization>.tflite`, verified in LiteRT, and `labels.txt`.

    Args:
        model: the Keras model (a QAT model converts to a full-integer file).
        data: the `DataBundle`: test examples to verify on, class names, and
            training examples to calibrate a post-training int8 conversion.
        output_dir: str or path-like, the folder to write to.
        name: str, the file name's stem, e.g. "distilled_student".
        quantization: str, "float32", "float16", "dynamic" or "int8".
        latency_runs: int, LiteRT invocations per latency measurement.
            Defaults to 100.

    Returns:
        The `keras_distill.export.TFLiteReport` (accuracy in LiteRT, bytes,
        gzip bytes, latency), also saved as `<name>_<quantization>.json`.
    """
    from keras_distill.export import export_and_verify
    from keras_distill.export import is_qat_model

    x_test, y_test = data.arrays("test")
    representative = None
    if quantization == "int8" and not is_qat_model(model):
        representative, _ = data.arrays("train", CALIBRATION_EXAMPLES)
    path = pathlib.Path(output_dir) / f"{name}_{quantization}.tflite"
    return export_and_verify(
        model,
        path,
        quantization,
        representative_data=representative,
        x_eval=x_test,
        y_eval=y_test,
        class_names=list(data.class_names),
        latency_runs=latency_runs,
    )
