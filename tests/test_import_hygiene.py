"""keras_distill never changes the user's Keras flavour and imports TF-MOT lazily."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import flavour_neutral

pytestmark = flavour_neutral

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_distill"
FLAVOUR_MODULES = {"keras", "tf_keras", "tensorflow_model_optimization"}


def _module_level_imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:  # module level only: function bodies are lazy
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_only_compat_imports_keras_tf_keras_or_tfmot_at_module_level():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            set(_module_level_imports(path)) & FLAVOUR_MODULES
        )
        for path in PACKAGE.rglob("*.py")
        if path.name != "_compat.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tfmot_is_never_imported_at_module_level():
    path = PACKAGE / "_compat.py"
    assert "tensorflow_model_optimization" not in set(_module_level_imports(path))


@pytest.mark.parametrize("legacy", [None, "1"])
def test_importing_every_module_keeps_the_keras_flavour_and_environment(legacy):
    code = (
        "import os, sys\n"
        "before = os.environ.get('TF_USE_LEGACY_KERAS')\n"
        "import importlib, pkgutil, keras_distill\n"
        "for m in pkgutil.walk_packages(keras_distill.__path__, 'keras_distill.'):\n"
        # The Keras 3 engine is built on Keras 3 (keras.ops, keras.quantizers);
        # compress._engine imports it only when keras_distill runs on Keras 3.
        "    if keras_distill._compat.LEGACY_KERAS and '._keras3' in m.name:\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        "import tensorflow as tf\n"
        "assert os.environ.get('TF_USE_LEGACY_KERAS') == before, 'env changed'\n"
        "assert 'tensorflow_model_optimization' not in sys.modules, 'TF-MOT imported'\n"
        "flavour = keras_distill._compat.FLAVOUR\n"
        "print(tf.keras.Model.__module__.split('.')[0], flavour)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if legacy:
        env["TF_USE_LEGACY_KERAS"] = legacy
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    tf_keras_package, flavour = out.stdout.split()[-2:]
    if legacy:
        assert (tf_keras_package, flavour) == ("tf_keras", "tf_keras")
    else:
        assert (tf_keras_package, flavour) == ("keras", "keras3")


def test_import_is_light_and_subpackages_load_on_first_use():
    code = (
        "import sys, keras_distill\n"
        "heavy = {'tensorflow_datasets', 'ai_edge_litert'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "for name in keras_distill._LAZY_SUBPACKAGES:\n"
        "    module = getattr(keras_distill, name)\n"
        "    assert module.__name__ == 'keras_distill.' + name\n"
        "    assert name in dir(keras_distill)\n"
        "try:\n"
        "    keras_distill.nonexistent\n"
        "except AttributeError as err:\n"
        "    print('AttributeError', err)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "has no attribute 'nonexistent'" in out.stdout
