"""Export a student to `.tflite` (and SavedModel), verified in LiteRT for Android."""

from keras_distill.export.float_ops import find_float_ops
from keras_distill.export.litert import measure_latency
from keras_distill.export.litert import verify_tflite
from keras_distill.export.litert import verify_tflite_content
from keras_distill.export.macs import LayerMACs
from keras_distill.export.macs import count_macs
from keras_distill.export.macs import count_tflite_macs
from keras_distill.export.macs import macs_by_layer
from keras_distill.export.pipeline import export_and_verify
from keras_distill.export.report import TFLiteReport
from keras_distill.export.report import check_class_names
from keras_distill.export.report import write_labels
from keras_distill.export.saved_model import export_saved_model
from keras_distill.export.tflite import QUANTIZATIONS
from keras_distill.export.tflite import TFLiteConversionError
from keras_distill.export.tflite import convert_tflite
from keras_distill.export.tflite import export_tflite
from keras_distill.export.tflite import is_qat_model

__all__ = [
    "LayerMACs",
    "QUANTIZATIONS",
    "TFLiteConversionError",
    "TFLiteReport",
    "check_class_names",
    "convert_tflite",
    "count_macs",
    "count_tflite_macs",
    "export_and_verify",
    "export_saved_model",
    "export_tflite",
    "find_float_ops",
    "is_qat_model",
    "macs_by_layer",
    "measure_latency",
    "verify_tflite",
    "verify_tflite_content",
    "write_labels",
]
