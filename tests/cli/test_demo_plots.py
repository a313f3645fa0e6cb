"""The demo's PNG plots are written, are PNG, and cover every model and curve."""

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


def test_accuracy_vs_size_writes_a_png(tmp_path):
    path = plots.plot_accuracy_vs_size(MODELS, tmp_path / "a.png", "mnist1d")
    assert path == tmp_path / "a.png" and _is_png(path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temp files left


def test_size_is_the_gzipped_file_when_measured_else_an_estimate():
    assert plots.model_size_bytes(MODELS[3]) == (11000.0, True)
    assert plots.model_size_bytes(MODELS[0]) == (4.0 * 47882, False)


def test_training_curves_draw_every_stage(tmp_path, monkeypatch):
    drawn = []
    original = plots._curve

    def spy(ax, history, key, label, colour, offset, epochs):
        drawn.append((key, label, offset))
        return original(ax, history, key, label, colour, offset, epochs)

    monkeypatch.setattr(plots, "_curve", spy)
    histories = {
        "baseline": {
            "val_loss": [2.0, 1.0],
            "val_sparse_categorical_accuracy": [0.5, 0.6],
        },
        "distil": HISTORY,
        "prune": HISTORY,
        "qat": HISTORY,
    }
    path = plots.plot_training_curves(histories, tmp_path / "c.png")
    assert _is_png(path)
    assert ("val_student_loss", "labels only", 0) in drawn
    assert ("distillation_loss", "pruning", 3) in drawn
    assert ("val_accuracy", "quantization-aware", 6) in drawn


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


def test_accuracy_vs_latency_places_every_timed_model_on_a_log_axis(
    tmp_path, monkeypatch
):
    models = [_timed(MODELS[0], 0.0167), MODELS[1]]
    models += [_timed(MODELS[2], 0.0016), _timed(MODELS[3], 0.00097)]
    figures = []
    real = plots._save

    def keep(fig, path):
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    path = plots.plot_accuracy_vs_latency(models, tmp_path / "l.png", "mnist1d")
    assert path == tmp_path / "l.png" and _is_png(path)
    (ax,) = figures[0].axes
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
