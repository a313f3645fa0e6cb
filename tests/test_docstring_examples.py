"""Every `Example:` in a keras_distill docstring runs, so that none can rot.

Two kinds of example are collected from every module of the package:

- doctests (`>>> ...`), found by `doctest.DocTestFinder` and checked against the
  output they show;
- fenced ```python blocks, which show a workflow rather than an output; they are
  executed and must not raise.

Examples may use, without defining them, the names that a reader has in hand
at that point of a workflow (a `teacher`, a `student`, `x_train`, ...): tiny
stand-ins for them are given in `example_names` below. A fenced block whose
first line is `# doctest: +SKIP` (with the reason after it) is not run: only
for examples that cannot run in a test, such as downloading a dataset.
"""

import doctest
import importlib
import pkgutil
import re

import numpy as np
import pytest
import tensorflow as tf

import keras_distill
from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.data import load_digits
from keras_distill.data import registry as data_registry
from keras_distill.demo.dataset import load_data

FENCED = re.compile(r"```python\n(.*?)```", re.DOTALL)
SKIP = "# doctest: +SKIP"
# Clustering needs TF-MOT, which needs tf_keras.
TF_KERAS_ONLY = ("keras_distill.compress.clustering",)
# Examples of pruning and clustering take `distiller` to train a pruned or a
# clustered student.
PRUNED_DISTILLER = ("keras_distill.compress.pruning", "keras_distill.compress.sparsity")
CLUSTERED_DISTILLER = ("keras_distill.compress.clustering",)
# Examples in files this test's author could not change; their owners should
# fix them and delete the entry (a fixed example makes its strict xfail fail).
KNOWN_BROKEN: dict[str, str] = {}
NOT_RUN = {
    "keras_distill.demo.run.run_demo": "runs the whole demo (minutes) into /tmp",
    "keras_distill.demo.teacher.get_teacher": "trains the demo's MNIST-1D teacher "
    "(minutes)",
}
# Examples of functions that work on Keras 3 only (our own QAT engine).
KERAS3_ONLY = ("keras_distill.compress.quantization.calibrate",)


def _modules():
    """Every module of the package, or the error that importing it raised."""
    yield keras_distill.__name__, keras_distill
    broken = []
    for info in pkgutil.walk_packages(
        keras_distill.__path__, "keras_distill.", onerror=broken.append
    ):
        if _compat.LEGACY_KERAS and "._keras3" in info.name:
            continue  # the Keras 3 engine, imported only on Keras 3
        try:
            yield info.name, importlib.import_module(info.name)
        except Exception as err:  # noqa: BLE001 - reported as a failing case
            yield info.name, err


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=False)
    for name, module in _modules():
        if isinstance(module, Exception):
            # A module that does not import cannot show its examples.
            yield _param(f"import {name}", "import", module)
            continue
        for test in finder.find(module):
            if test.examples:
                yield _param(test.name, "doctest", test)
            blocks = FENCED.findall(test.docstring or "")
            for i, block in enumerate(blocks):
                name = test.name if len(blocks) == 1 else f"{test.name}[{i}]"
                yield _param(name, "fenced", (_dedent(block), test.globs))


def _param(name, kind, example):
    # Fenced examples train models for a few seconds: the slow tier (still CI).
    marks = [pytest.mark.slow] if kind == "fenced" else []
    if name in KNOWN_BROKEN:
        marks.append(pytest.mark.xfail(reason=KNOWN_BROKEN[name], strict=True))
    return pytest.param(name, kind, example, id=name, marks=marks)


def _dedent(block):
    lines = block.splitlines()
    indent = min(
        (len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0
    )
    return "\n".join(line[indent:] for line in lines) + "\n"


def _cnn(name, classes, blocks):
    """A tiny CNN on 8x8x1 inputs whose conv layers are named block1, block2..."""
    inputs = keras.Input((8, 8, 1))
    h = inputs
    for i, filters in enumerate(blocks, start=1):
        h = keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"block{i}"
        )(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def example_names(name=""):
    """Tiny stand-ins for the names examples take as given: 8x8 digits, 10 classes."""
    data = load_digits(batch_size=64)
    x, y = data.x_train[:64], data.y_train[:64]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    teacher = _cnn("teacher", 10, (8, 8))
    student = _cnn("student", 10, (4,))
    distilled = _cnn("s", 10, (4,))
    if name.startswith(PRUNED_DISTILLER):
        from keras_distill.compress import prune

        distilled = prune(distilled, target_sparsity=0.5, end_step=4, frequency=1)
    if name.startswith(CLUSTERED_DISTILLER):
        from keras_distill.compress import cluster

        distilled = cluster(distilled, number_of_clusters=4)
    distiller = keras_distill.Distiller(student=distilled, teacher=teacher)
    distiller.compile(optimizer="adam", loss=loss)
    model = _cnn("model", 10, (4,))
    model.compile(optimizer="adam", loss=loss)
    return {
        "keras": keras,
        "keras_distill": keras_distill,
        "np": np,
        "tf": tf,
        "Distiller": keras_distill.Distiller,
        "load_data": load_data,
        "data": data,
        "loss": loss,
        "teacher": teacher,
        "student": student,
        "distilled_student": student,
        "old_model": _cnn("old_model", 5, (4,)),
        "model": model,
        "distiller": distiller,
        **dict(x=x, y=y, x_train=x, y_train=y, x_test=x, y_test=y, x_val=x, y_val=y),
        "x_unlabelled": x,
        "images": x,
        "labels": y,
        "x_new": x,
        "y_new": y % 5,
    }


@pytest.fixture
def example_dir(tmp_path, monkeypatch):
    """Examples write files (saved_models/...) and caches into a temporary folder.

    Datasets an example registers are forgotten afterwards.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_registry, "_LOADERS", dict(data_registry._LOADERS))
    return tmp_path


@pytest.mark.parametrize(("name", "kind", "example"), list(_examples()))
def test_docstring_example_runs(name, kind, example, example_dir):
    if name.startswith(TF_KERAS_ONLY) and not _compat.LEGACY_KERAS:
        pytest.skip("clustering examples need tf_keras (TF-MOT)")
    if name.startswith(KERAS3_ONLY) and _compat.LEGACY_KERAS:
        pytest.skip("calibrate's example needs our Keras 3 QAT engine")
    if kind == "import":
        raise example
    if kind == "doctest":
        example.globs = {**example_names(name), **example.globs}
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        runner.run(example)
        assert runner.failures == 0, f"{name}: see the doctest report above"
        return
    code, module_globals = example
    if code.startswith(SKIP):
        pytest.skip(code.splitlines()[0])
    names = {**module_globals, **example_names(name)}
    exec(compile(code, f"<example of {name}>", "exec"), names)  # noqa: S102
