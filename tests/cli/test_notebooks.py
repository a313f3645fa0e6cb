"""The Colab notebooks in examples/: installable first cell, CI parameters, and
they run top to bottom (with tiny epochs) in a fresh kernel, computing what each
cell says: accuracies above chance, the pruned sparsity, the files written (a
.keras file, .tflite files that load in LiteRT) and the pictures drawn."""

import base64
import io
import os
import pathlib
import re
import zipfile

import matplotlib.image
import nbformat
import numpy as np
import pytest
from conftest import flavour_neutral

pytestmark = flavour_neutral

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
# What CI runs instead of each notebook's parameters: a smoke test, not a result.
TINY = {"EPOCHS": 2, "TEACHER_EPOCHS": 2, "COMPRESS_EPOCHS": 1}
# MNIST-1D has ten classes: one in ten is a guess.
CHANCE = 10.0


def _parameters_cell(notebook):
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    return cells[0]


def _assigned_names(source: str) -> set[str]:
    return {
        line.split("=")[0].strip()
        for line in source.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }


def test_there_are_the_three_notebooks_of_the_issue():
    names = [path.name for path in NOTEBOOKS]
    assert names == [
        "01_distil_in_ten_lines.ipynb",
        "02_prune_quantize_litert_android.ipynb",
        "03_feature_distillation_and_methods.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_installs_first_and_has_ci_parameters(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    first = notebook.cells[0]
    assert first.cell_type == "code"
    # No package of that name is published: tests/cli/test_notebook_install.py
    assert '%pip install --quiet "keras-distill[demo] @ {url}"' in first.source
    assert "-e {repo}[demo]" in first.source  # a checkout installs itself
    assert 'find_spec("keras_distill") is None' in first.source
    parameters = _parameters_cell(notebook)
    assert "EPOCHS" in _assigned_names(parameters.source)
    assert set(_assigned_names(parameters.source)) <= set(TINY)
    assert all(not cell.get("outputs") for cell in notebook.cells if "outputs" in cell)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Runs a notebook once with tiny epochs; returns it and its temp directory."""
    done = {}

    def run(path):
        if path not in done:
            done[path] = _execute(path, tmp_path_factory.mktemp(path.stem))
        return done[path]

    return run


def _execute(path, tmp_path):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    parameters = _parameters_cell(notebook)
    names = _assigned_names(parameters.source)
    parameters.source = "\n".join(f"{name} = {TINY[name]}" for name in sorted(names))
    # The kernel imports this checkout, on the flavour each notebook chooses,
    # and makes its temporary directories (tempfile.mkdtemp) under tmp_path.
    repo = str(EXAMPLES.parent)
    env = {
        "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        # The kernel's inline backend: plt.show() displays a PNG in the outputs.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "TMPDIR": str(tmp_path),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("TF_USE_LEGACY_KERAS", raising=False)
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
    return notebook, tmp_path


def _outputs(notebook, output_type):
    return [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == output_type
    ]


def _printed(notebook):
    return "".join(output.get("text", "") for output in _outputs(notebook, "stream"))


def _percent(printed, name):
    """The accuracy printed as `name   12.3 %`."""
    (value,) = re.findall(rf"^{re.escape(name)} +([\d.]+) %$", printed, re.MULTILINE)
    return float(value)


def _fraction(printed, prefix):
    """The number printed right after `prefix`."""
    (value,) = re.findall(rf"^{re.escape(prefix)} ?([\d.]+)", printed, re.MULTILINE)
    return float(value)


def _pictures(notebook):
    """The PNG images the notebook displayed, decoded."""
    return [
        matplotlib.image.imread(
            io.BytesIO(base64.b64decode(output["data"]["image/png"]))
        )
        for output in _outputs(notebook, "display_data")
        if "image/png" in output.get("data", {})
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_with_tiny_epochs(path, executed):
    notebook, _ = executed(path)
    assert _outputs(notebook, "error") == []
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code)


@pytest.mark.slow
def test_distil_in_ten_lines_beats_chance_plots_and_saves_the_student(executed):
    notebook, tmp_path = executed(EXAMPLES / "01_distil_in_ten_lines.ipynb")
    printed = _printed(notebook)
    for name in ("teacher", "student, labels only", "student, distilled"):
        assert CHANCE < _percent(printed, name) <= 100, printed
    # One figure: the distilled student's test accuracy per epoch.
    (picture,) = _pictures(notebook)
    assert picture.shape[0] > 100 and picture.shape[1] > 100
    assert picture[..., :3].std() > 0  # not a blank image
    # The last cell saves the student and prints its path and size.
    ((saved, size),) = re.findall(r"^(\S+\.keras) (\d+) bytes$", printed, re.MULTILINE)
    saved = pathlib.Path(saved)
    assert saved.is_relative_to(tmp_path) and saved.stat().st_size == int(size)
    with zipfile.ZipFile(saved) as archive:
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())


@pytest.mark.slow
def test_prune_quantize_litert_notebook_writes_files_that_run_in_litert(executed):
    from ai_edge_litert.interpreter import Interpreter

    notebook, tmp_path = executed(EXAMPLES / "02_prune_quantize_litert_android.ipynb")
    printed = _printed(notebook)
    teacher = _fraction(printed, "trained teacher, test accuracy")
    student = _fraction(printed, "distilled student:")
    pruned = _fraction(printed, "pruned student:")
    qat = _fraction(printed, "QAT student:")
    for accuracy in (teacher, student, pruned, qat):
        assert CHANCE / 100 < accuracy <= 1, printed
    # prune(target_sparsity=0.5): every pruned kernel is half zeros, and QAT
    # with preserve="sparsity" keeps them.
    zeros = re.findall(r"^\S+ +(\d+) % zeros$", printed, re.MULTILINE)
    assert zeros and all(int(z) == 50 for z in zeros), printed
    zeros = _fraction(printed, f"QAT student: {qat} zeros:")
    assert zeros == pytest.approx(0.5, abs=0.05), printed
    # Each export's summary: size, LiteRT accuracy within 5 points of Keras.
    summary = re.compile(
        r"^student_(float32|int8)\.tflite: \w+, ([\d.]+) KiB .*?"
        r"accuracy ([\d.]+)% \(Keras ([\d.]+)%\)",
        re.MULTILINE,
    )
    summaries = {kind: values for kind, *values in summary.findall(printed)}
    assert sorted(summaries) == ["float32", "int8"], printed
    (out,) = tmp_path.glob("*/android")
    for kind, (kib, litert, keras) in summaries.items():
        assert abs(float(litert) - float(keras)) <= 5, printed
        file = out / f"student_{kind}.tflite"
        assert file.stat().st_size / 1024 == pytest.approx(float(kib), abs=0.05)
    int8 = out / "student_int8.tflite"
    assert int8.stat().st_size < 0.5 * (out / "student_float32.tflite").stat().st_size
    assert "labels.txt" in printed and "student_int8.tflite" in printed
    labels = (out / "labels.txt").read_text().split()
    assert len(labels) == 10
    # The int8 file loads in LiteRT and gives one logit per label.
    interpreter = Interpreter(model_path=str(int8))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    (output,) = interpreter.get_output_details()
    assert list(inp["shape"]) == [1, 40] and list(output["shape"]) == [1, 10]
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interpreter.invoke()
    assert np.isfinite(interpreter.get_tensor(output["index"])).all()
    # The last cell's prediction is one of those labels.
    ((predicted, true),) = re.findall(
        r"^predicted (\S+) - true (\S+)$", printed, re.MULTILINE
    )
    assert predicted in labels and true in labels


@pytest.mark.slow
def test_feature_distillation_notebook_compares_every_candidate(executed):
    notebook, _ = executed(EXAMPLES / "03_feature_distillation_and_methods.ipynb")
    printed = _printed(notebook)
    # The hint matches the teacher's "features" layer with the student's "hidden2".
    assert "'features'" in re.search(r"^teacher layers: .*$", printed, re.M)[0]
    assert "'hidden2'" in re.search(r"^student layers: .*$", printed, re.M)[0]
    for name in ("KL, T=4", "KL + hint", "KL + Mixup (consistent)"):
        assert CHANCE < _percent(printed, name) <= 100, printed
    (picture,) = _pictures(notebook)
    assert picture[..., :3].std() > 0
