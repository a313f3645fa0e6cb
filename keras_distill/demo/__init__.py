"""`keras-distill demo`: the whole pipeline as stage functions, options and reports.

`run_demo` runs every stage; the notebooks and your own scripts can call the
stages one by one (`load_data`, `get_teacher`, `train_student`, `distil`,
`compress`, `export`).
"""

from keras_distill.demo.compression import compress
from keras_distill.demo.compression import zero_fraction
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.config import load_config
from keras_distill.demo.dataset import evaluate
from keras_distill.demo.dataset import load_data
from keras_distill.demo.exporting import export
from keras_distill.demo.methods import METHODS
from keras_distill.demo.methods import DemoMethod
from keras_distill.demo.methods import get_method
from keras_distill.demo.presets import STUDENT_PRESETS
from keras_distill.demo.presets import student_preset
from keras_distill.demo.presets import teacher_preset
from keras_distill.demo.progress import EpochProgress
from keras_distill.demo.run import run_demo
from keras_distill.demo.teacher import get_teacher
from keras_distill.demo.training import distil
from keras_distill.demo.training import make_student
from keras_distill.demo.training import train_student

__all__ = [
    "METHODS",
    "STUDENT_PRESETS",
    "DemoConfig",
    "DemoMethod",
    "EpochProgress",
    "UsageError",
    "compress",
    "distil",
    "evaluate",
    "export",
    "get_method",
    "get_teacher",
    "load_config",
    "load_data",
    "make_student",
    "run_demo",
    "student_preset",
    "teacher_preset",
    "train_student",
    "zero_fraction",
]
