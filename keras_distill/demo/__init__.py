"""`keras-distill demo`: the whole pipeline as stage functions, options and reports.

`run_demo` runs every stage (`demo/run.py` is the pipe: plan, data, teacher,
baseline, distil, compress, export, report); the notebooks and your own scripts
can use the building blocks: `load_data`, `get_teacher`, `student_preset`,
`evaluate`.
"""

from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.config import load_config
from keras_distill.demo.dataset import evaluate
from keras_distill.demo.dataset import load_data
from keras_distill.demo.methods import METHODS
from keras_distill.demo.methods import get_method
from keras_distill.demo.presets import student_preset
from keras_distill.demo.presets import teacher_preset
from keras_distill.demo.run import run_demo
from keras_distill.demo.teacher import get_teacher

__all__ = [
    "METHODS",
    "DemoConfig",
    "UsageError",
    "evaluate",
    "get_method",
    "get_teacher",
    "load_config",
    "load_data",
    "run_demo",
    "student_preset",
    "teacher_preset",
]
