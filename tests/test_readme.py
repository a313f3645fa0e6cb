"""README's first code block runs as it is, in an empty folder."""

import os
import pathlib
import re
import subprocess
import sys

from conftest import keras3_only

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@keras3_only
def test_readme_first_python_block_runs_in_an_empty_folder(tmp_path):
    evaluate = "print(distiller.evaluate(x_test, y_test, return_dict=True))"
    code = _python_blocks()[0] + evaluate
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", KERAS_DISTILL_CACHE=str(tmp_path / "cache"))
    work = tmp_path / "empty"
    work.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / "student.keras").is_file()
    accuracy = float(
        re.search(r"'sparse_categorical_accuracy': ([0-9.]+)", out.stdout).group(1)
    )
    assert accuracy > 0.3  # 10 classes: well above chance
