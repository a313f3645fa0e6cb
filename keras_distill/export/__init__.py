"""Export a student to `.tflite` (and SavedModel), verified in LiteRT for Android.

One module per job: `convert` (Keras model -> `.tflite` bytes or file),
`verify` (run the file in LiteRT against Keras: the `TFLiteReport` of
`report`), `latency` (time it per thread count), `labels` (the app's labels
file), `pipeline` (all of them in one call: `export_and_verify`), plus
`float_ops`, `macs`, `recurrent` and `saved_model`.
"""

import importlib

from keras_distill.export.convert import QUANTIZATIONS
from keras_distill.export.convert import TFLiteConversionError
from keras_distill.export.convert import export_tflite
from keras_distill.export.float_ops import find_float_ops
from keras_distill.export.labels import write_labels
from keras_distill.export.latency import measure_latency
from keras_distill.export.macs import count_macs
from keras_distill.export.macs import macs_by_layer
from keras_distill.export.pipeline import export_and_verify
from keras_distill.export.report import TFLiteReport
from keras_distill.export.saved_model import export_saved_model
from keras_distill.export.verify import verify_tflite

__all__ = [
    "QUANTIZATIONS",
    "TFLiteConversionError",
    "TFLiteReport",
    "count_macs",
    "export_and_verify",
    "export_saved_model",
    "export_tflite",
    "find_float_ops",
    "macs_by_layer",
    "measure_latency",
    "verify_tflite",
    "write_labels",
]

# Names this package exported before the curated `__all__`; import them from
# their modules. Still resolved here (PEP 562) so older code keeps working.
_MOVED = {
    "LayerMACs": "keras_distill.export.macs",
    "check_class_names": "keras_distill.export.labels",
    "convert_tflite": "keras_distill.export.convert",
    "count_tflite_macs": "keras_distill.export.macs",
    "is_qat_model": "keras_distill.export.convert",
    "verify_tflite_content": "keras_distill.export.verify",
}


def __getattr__(name: str):
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
