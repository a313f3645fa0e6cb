"""The notebooks' install cell works without a published keras-distill package.

The first cell of every notebook installs keras_distill from a checkout, or
from `KERAS_DISTILL_SOURCE` (a wheel uploaded to Colab, or a Git URL). The cell
from conftest import flavour_neutral

pytestmark = flavour_neutral
runs here with IPython's `%pip` recorded instead of run; .ci/run builds the
wheel the cell names, so the instructions stay true.
"""

import pathlib
import re
import sys

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

REPO = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "examples").glob("*.ipynb"))
SOURCE_LINE = re.compile(r'^KERAS_DISTILL_SOURCE = "(.*)"$', re.MULTILINE)


def _install_cell(path):
    return nbformat.read(path, as_version=4).cells[0].source


class _Shell:
    """Stands in for IPython: records `%pip` lines instead of running them."""

    def __init__(self):
        self.pip = []

    def run_line_magic(self, name, line, *args, **kwargs):
        assert name == "pip"
        # IPython expands {name} from the cell's variables, as here.
        self.pip.append(line.format_map(sys._getframe(1).f_globals))


def _run_install_cell(path, monkeypatch, cwd, source=None):
    code = _install_cell(path)
    if source is not None:
        code = SOURCE_LINE.sub(f"KERAS_DISTILL_SOURCE = {source!r}", code)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    shell = _Shell()
    python = TransformerManager().transform_cell(code)
    exec(compile(python, str(path), "exec"), {"get_ipython": lambda: shell})  # noqa: S102
    return shell.pip


def _version():
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'^version = "(.+)"$', text, re.MULTILINE).group(1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_never_asks_pip_for_an_unpublished_package(path):
    cell = _install_cell(path)
    assert not re.search(r"pip install (--quiet )?keras[-_]distill\b", cell)
    assert len(SOURCE_LINE.findall(cell)) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_names_the_wheel_that_pip_wheel_builds(path):
    (source,) = SOURCE_LINE.findall(_install_cell(path))
    wheel = f"keras_distill-{_version()}-py3-none-any.whl"
    assert pathlib.PurePosixPath(source).name == wheel
    assert f"dist/{wheel}" in _install_cell(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_installs_an_uploaded_wheel(path, tmp_path, monkeypatch):
    wheel = tmp_path / "keras_distill-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    pip = _run_install_cell(path, monkeypatch, tmp_path, source=str(wheel))
    assert pip == [f'install --quiet "keras-distill[demo] @ {wheel.as_uri()}"']


def test_install_cell_installs_from_a_git_url(tmp_path, monkeypatch):
    url = "git+https://example.org/team/keras_distill@v0.1.0"
    assert _run_install_cell(NOTEBOOKS[0], monkeypatch, tmp_path, source=url) == [
        f'install --quiet "keras-distill[demo] @ {url}"'
    ]


def test_install_cell_explains_a_missing_wheel(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere.whl")
    with pytest.raises(FileNotFoundError, match="upload the wheel"):
        _run_install_cell(NOTEBOOKS[0], monkeypatch, tmp_path, source=missing)


def test_install_cell_in_a_checkout_installs_the_checkout(monkeypatch):
    pip = _run_install_cell(NOTEBOOKS[0], monkeypatch, REPO / "examples")
    assert pip == [f"install --quiet -e {REPO}[demo]"]
