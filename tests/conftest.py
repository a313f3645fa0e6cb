"""Shared test set-up: one seeded, clean Keras session per test.

The Keras flavour is fixed per process (see keras_distill/_compat.py), so the suite
runs twice: `pytest` (Keras 3) and `TF_USE_LEGACY_KERAS=1 pytest` (tf_keras). Tests
that only make sense in one flavour use the `keras3_only` / `tf_keras_only` marks;
tests whose outcome does not depend on the flavour use `flavour_neutral` and run
once.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_distill import _compat  # noqa: E402
from keras_distill._compat import keras  # noqa: E402

keras3_only = pytest.mark.skipif(
    _compat.LEGACY_KERAS, reason="Keras 3 behaviour; runs in the Keras 3 pass"
)
tf_keras_only = pytest.mark.skipif(
    not _compat.LEGACY_KERAS,
    reason="needs tf_keras (TF-MOT); runs in the TF_USE_LEGACY_KERAS=1 pass",
)
# Tests whose outcome does not depend on the flavour of this process: pure
# Python, or subprocesses that pick their own Keras (benchmark scripts, the
# notebooks' kernel, the import checks that start both flavours). They run
# once, in the Keras 3 pass.
flavour_neutral = pytest.mark.skipif(
    _compat.LEGACY_KERAS,
    reason="flavour-neutral: runs once, in the Keras 3 pass",
)

# The Keras 3 engine's own tests import it at module level, and it is built on
# Keras 3 (`keras.ops`, `keras.quantizers`): not collected in the tf_keras pass.
collect_ignore_glob = ["compress/test_keras3_*.py"] if _compat.LEGACY_KERAS else []


def pytest_report_header(config):
    return f"keras_distill Keras flavour: {_compat.flavour_name()} {keras.__version__}"


@pytest.fixture(autouse=True)
def clean_keras_session():
    """Seeds every RNG and clears Keras' global state around each test."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    np.random.seed(0)
    yield
    keras.backend.clear_session()
