"""keras_distill.compress must not import TF-MOT until a function needs it.

Importing TF-MOT sets TF_USE_LEGACY_KERAS=1 as a side effect, which would switch
the Keras of everything imported afterwards.
"""

import ast
import os
import pathlib
import subprocess
import sys

import keras_distill.compress

PACKAGE = pathlib.Path(keras_distill.compress.__file__).parent
BANNED = ("tensorflow_model_optimization", "tf_keras", "keras")


def _module_level_imports(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_compress_modules_do_not_import_tfmot_or_keras_at_module_level():
    offenders = {
        path.name: name
        for path in sorted(PACKAGE.glob("*.py"))
        for name in _module_level_imports(path)
        if name.split(".")[0] in BANNED
    }
    assert offenders == {}


def test_importing_compress_leaves_tfmot_unloaded_and_the_flavour_unchanged():
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    code = (
        "import os, sys\n"
        "import keras_distill.compress\n"
        "print('tensorflow_model_optimization' in sys.modules,"
        " os.environ.get('TF_USE_LEGACY_KERAS'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent.parent,
    )
    assert out.stdout.split() == ["False", "None"]
