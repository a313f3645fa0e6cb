"""The demo's plots show the report's numbers: one labelled point per model at
(size or latency, accuracy) on log axes, every stage's curve at its epochs, and
the PNG written decodes to the picture drawn."""

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest

from keras_distill.demo import plots

MODELS = [
    {"name": "teacher", "accuracy": 0.94, "params": 47882},
    {"name": "baseline_student", "accuracy": 0.66, "params": 15310},
    {
        "name": "distilled_student",
        "accuracy": 0.83,
        "params": 15310,
        "tflite_bytes": 63000,
        "gzip_bytes": 57000,
    },
    {
        "name": "compressed_student",
        "accuracy": 0.81,
        "params": 15310,
        "tflite_bytes": 19000,
        "gzip_bytes": 11000,
    },
]
HISTORY = {
    "loss": [2.0, 1.0, 0.5],
    "val_student_loss": [2.1, 1.2, 0.7],
    "distillation_loss": [1.5, 0.8, 0.4],
    "val_sparse_categorical_accuracy": [0.3, 0.6, 0.8],
}


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch):
    """The Figure objects the plot functions save, in order."""
    figures = []
    real = plots._save

    def keep(fig, path):
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _decoded_like(path, fig):
    """The PNG at `path`, decoded; the size of `fig`'s drawing at 120 dpi, as saved."""
    image = matplotlib.image.imread(path)
    box = fig.get_tightbbox()  # inches; `_save` pads it by 0.1 on each side
    size = [120 * (box.height + 0.2), 120 * (box.width + 0.2), 4]
    assert list(image.shape) == pytest.approx(size, rel=0.01)
    return image


def _has_colour(image, colour):
    """Whether some pixel of `image` (RGBA floats) is `colour` (a hex string)."""
    rgb = np.array(matplotlib.colors.to_rgb(colour))
    return bool((np.abs(image[..., :3] - rgb).max(axis=-1) < 2 / 255).any())


def test_accuracy_vs_size_draws_one_labelled_point_per_model_at_its_size(
    tmp_path, drawn
):
    path = plots.plot_accuracy_vs_size(MODELS, tmp_path / "a.png", "mnist1d")
    assert path == tmp_path / "a.png" and _is_png(path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temp files left
    (fig,) = drawn
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert ax.get_xlabel().startswith("size (KiB)")
    assert ax.get_ylabel() == "test accuracy (%)"
    assert ax.get_title() == "mnist1d"
    # x: gzipped file in KiB when exported, else 4 bytes/param; y: accuracy %.
    expected = [
        (4 * 47882 / 1024, 94.0),
        (4 * 15310 / 1024, 66.0),
        (57000 / 1024, 83.0),
        (11000 / 1024, 81.0),
    ]
    points = [tuple(c.get_offsets()[0]) for c in ax.collections]
    np.testing.assert_allclose(points, expected, rtol=1e-9)
    assert [len(c.get_offsets()) for c in ax.collections] == [1, 1, 1, 1]
    # Estimates are hollow (white face), measured files filled in their colour.
    faces = [tuple(c.get_facecolors()[0][:3]) for c in ax.collections]
    white = (1.0, 1.0, 1.0)
    assert faces[:2] == [white, white] and white not in faces[2:]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [plots.LABELS[m["name"]] for m in MODELS]
    assert [t.get_text() for t in ax.texts] == [f"{y:.1f} %" for _, y in expected]
    np.testing.assert_allclose([t.xy for t in ax.texts], expected, rtol=1e-9)
    lowest, highest = ax.get_xlim()
    assert lowest < 11000 / 1024 and highest > 4 * 47882 / 1024
    image = _decoded_like(path, fig)
    assert _has_colour(image, plots.COLOURS["compressed_student"])
    assert _has_colour(image, plots.COLOURS["distilled_student"])


def test_size_is_the_gzipped_file_when_measured_else_an_estimate():
    assert plots.model_size_bytes(MODELS[3]) == (11000.0, True)
    assert plots.model_size_bytes(MODELS[0]) == (4.0 * 47882, False)


def test_training_curves_continue_each_stage_on_one_epoch_axis(tmp_path, drawn):
    histories = {
        "baseline": {
            "loss": [2.5, 1.5],
            "val_loss": [2.0, 1.0],
            "val_sparse_categorical_accuracy": [0.5, 0.6],
        },
        "distil": HISTORY,
        "prune": HISTORY,
        "qat": HISTORY,
    }
    path = plots.plot_training_curves(histories, tmp_path / "c.png", "mnist1d")
    (fig,) = drawn
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "student (label) loss, test split",
        "distillation loss, training",
        "test accuracy (%)",
    ]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert fig.get_suptitle() == "mnist1d"

    def curves(ax):
        return {
            line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.lines
        }

    # The baseline starts at 0; distillation, pruning and QAT follow one another.
    distil, prune, qat = [1, 2, 3], [4, 5, 6], [7, 8, 9]
    loss, kd, accuracy = (curves(ax) for ax in fig.axes)
    assert loss == {
        "labels only": ([1, 2], [2.0, 1.0]),
        "distillation": (distil, HISTORY["val_student_loss"]),
        "pruning": (prune, HISTORY["val_student_loss"]),
        "quantization-aware": (qat, HISTORY["val_student_loss"]),
    }
    assert kd == {
        "distillation": (distil, HISTORY["distillation_loss"]),
        "pruning": (prune, HISTORY["distillation_loss"]),
        "quantization-aware": (qat, HISTORY["distillation_loss"]),
    }
    percent = pytest.approx([30.0, 60.0, 80.0])
    assert accuracy == {
        "labels only": ([1, 2], pytest.approx([50.0, 60.0])),
        "distillation": (distil, percent),
        "pruning": (prune, percent),
        "quantization-aware": (qat, percent),
    }
    for ax in fig.axes:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == [line.get_label() for line in ax.lines]
    image = _decoded_like(path, fig)
    assert _has_colour(image, plots.COLOURS["compressed_student"])


def test_validation_every_few_epochs_is_drawn_at_the_epochs_it_ran():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    # 6 epochs validated every 2nd (validation_freq=2), after 10 earlier epochs.
    plots._curve(ax, {"val_accuracy": [1.0, 2.0, 3.0]}, "val_accuracy", "", "k", 10, 6)
    assert list(ax.lines[0].get_xdata()) == [12, 14, 16]


def test_unwritable_plot_path_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        plots.plot_accuracy_vs_size(MODELS, tmp_path / "missing" / "a.png")
    assert list(tmp_path.iterdir()) == []


def _timed(model, median):
    return model | {"latency_ms": median, "latency_ms_p90": 2 * median}


def test_accuracy_vs_latency_places_every_timed_model_on_a_log_axis(tmp_path, drawn):
    models = [_timed(MODELS[0], 0.0167), MODELS[1]]
    models += [_timed(MODELS[2], 0.0016), _timed(MODELS[3], 0.00097)]
    path = plots.plot_accuracy_vs_latency(models, tmp_path / "l.png", "mnist1d")
    assert path == tmp_path / "l.png" and _is_png(path)
    (fig,) = drawn
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    drawn = [tuple(c.get_offsets()[0]) for c in ax.collections]
    # The baseline has no file: it sits at the distilled student's latency.
    assert drawn == [(0.0167, 94.0), (0.0016, 66.0), (0.0016, 83.0), (0.00097, 81.0)]
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["94.0 %\n0.0167 ms", "66.0 %\n0.0016 ms"] + [
        "83.0 %\n0.0016 ms",
        "81.0 %\n0.00097 ms",
    ]
    # The legend names the models; the fastest point's text is on its left.
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "teacher"
    assert [t.get_ha() for t in ax.texts] == ["left", "left", "left", "right"]
    assert ax.get_ylabel() == "test accuracy (%)"
    assert ax.get_xlabel().startswith("latency (ms)")
    assert _has_colour(_decoded_like(path, fig), plots.COLOURS["teacher"])


def test_latency_points_mark_the_baseline_estimated_and_skip_untimed_models():
    models = [MODELS[0] | {"export_error": "no kernel"}, MODELS[1]]
    models += [_timed(MODELS[2], 0.002), _timed(MODELS[3], 0.001)]
    points = plots.latency_points(models)
    points = [(model["name"], ms, measured) for model, ms, measured in points]
    assert points == [
        ("baseline_student", 0.002, False),
        ("distilled_student", 0.002, True),
        ("compressed_student", 0.001, True),
    ]
    # Without a distilled file to borrow from, the baseline is left out too.
    assert plots.latency_points(MODELS[:2]) == []
