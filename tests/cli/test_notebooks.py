"""The Colab notebooks in examples/: installable first cell, CI parameters, and
they run top to bottom (with tiny epochs) in a fresh kernel."""

import os
import pathlib

import nbformat
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
# What CI runs instead of each notebook's parameters: a smoke test, not a result.
TINY = {"EPOCHS": 2, "TEACHER_EPOCHS": 2, "COMPRESS_EPOCHS": 1}
# What each notebook prints once its last step worked.
LAST_OUTPUT = {
    "01_distil_in_ten_lines": "student.keras",
    "02_prune_quantize_litert_android": "predicted",
    "03_feature_distillation_and_methods": "KL + Mixup (consistent)",
}


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
    assert "%pip install --quiet {KERAS_DISTILL_SOURCE}" in first.source
    assert "-e {repo}" in first.source  # a checkout installs itself
    assert 'find_spec("keras_distill") is None' in first.source
    parameters = _parameters_cell(notebook)
    assert "EPOCHS" in _assigned_names(parameters.source)
    assert set(_assigned_names(parameters.source)) <= set(TINY)
    assert all(not cell.get("outputs") for cell in notebook.cells if "outputs" in cell)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_with_tiny_epochs(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    parameters = _parameters_cell(notebook)
    names = _assigned_names(parameters.source)
    parameters.source = "\n".join(f"{name} = {TINY[name]}" for name in sorted(names))
    # The kernel imports this checkout, on the flavour each notebook chooses.
    repo = str(EXAMPLES.parent)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    assert LAST_OUTPUT[path.stem] in printed
    if path.stem.startswith("02"):
        assert "student_int8.tflite" in printed and "labels.txt" in printed
