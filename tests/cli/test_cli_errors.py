"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing trained."""

import os
import subprocess
import sys

import pytest
from cli_testing import our_lines
from cli_testing import run_cli
from conftest import tf_keras_only

from keras_distill import cli
from keras_distill._compat import keras


def _fails_with_one_line(capsys, argv, *expected):
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured
    assert "Traceback" not in captured.err
    errors = [line for line in lines if line.startswith("keras-distill: error:")]
    assert len(errors) == 1, lines
    for text in expected:
        assert text in errors[0]
    return errors[0]


def test_unknown_flag_is_one_line(capsys, tmp_path):
    _fails_with_one_line(capsys, ["demo", "--epoch", "3"], "--epoch", "--help")


def test_unknown_dataset_lists_the_choices(capsys, tmp_path):
    _fails_with_one_line(
        capsys,
        ["demo", "--dataset", "mnist2d", "--output-dir", str(tmp_path / "out")],
        "mnist2d",
        "mnist1d",
        "digits",
        "tfds:<name>",
    )


def test_tfds_dataset_not_prepared_says_how_to_prepare_it(capsys, tmp_path):
    _fails_with_one_line(
        capsys,
        [
            "demo",
            "--dataset",
            "tfds:mnist",
            "--data-dir",
            str(tmp_path / "tfds"),
            "--output-dir",
            str(tmp_path / "out"),
        ],
        "not prepared",
        "download_and_prepare",
    )


def test_teacher_file_that_does_not_load(capsys, tmp_path):
    bad = tmp_path / "teacher.keras"
    bad.write_bytes(b"not a zip file")
    _fails_with_one_line(
        capsys,
        ["demo", "--dataset", "digits", "--teacher", str(bad)]
        + ["--output-dir", str(tmp_path / "out")],
        "does not load",
    )


@tf_keras_only
def test_keras3_teacher_file_under_tf_keras_says_how_to_switch_back(capsys, tmp_path):
    # Saved in a fresh Keras 3 process, as a user's file would be. (The other
    # way round, Keras 3 loads simple tf_keras files.)
    path = tmp_path / "teacher.keras"
    script = (
        "import tensorflow as tf; tf.keras.Sequential([tf.keras.Input((64,)), "
        f"tf.keras.layers.Dense(10)]).save({str(path)!r})"
    )
    env = dict(os.environ, TF_USE_LEGACY_KERAS="0", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    _fails_with_one_line(
        capsys,
        ["demo", "--dataset", "digits", "--teacher", str(path)]
        + ["--output-dir", str(tmp_path / "out")],
        "does not load",
        "saved by Keras 3",
        "without TF_USE_LEGACY_KERAS",
    )


def test_missing_teacher_file(capsys, tmp_path):
    _fails_with_one_line(
        capsys,
        ["demo", "--teacher", str(tmp_path / "nope.keras")]
        + ["--output-dir", str(tmp_path / "out")],
        "does not exist",
    )


def test_teacher_that_does_not_fit_the_data(capsys, tmp_path):
    path = tmp_path / "teacher.keras"
    keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)]).save(path)
    line = _fails_with_one_line(
        capsys,
        ["demo", "--dataset", "digits", "--teacher", str(path)]
        + ["--output-dir", str(tmp_path / "out")],
        "(5,)",
        "(8, 8, 1)",
        "10 classes",
    )
    assert "3 classes" in line


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="root can write anywhere; the file case below still runs",
)
def test_output_dir_that_is_not_writable(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _fails_with_one_line(
            capsys, ["demo", "--output-dir", str(locked / "out")], "not writable"
        )
    finally:
        locked.chmod(0o700)


def test_output_dir_that_cannot_be_created(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    _fails_with_one_line(
        capsys, ["demo", "--output-dir", str(tmp_path / "file" / "out")], "not writable"
    )


def test_output_dir_that_is_a_file(capsys, tmp_path):
    target = tmp_path / "report"
    target.write_text("keep me")
    _fails_with_one_line(capsys, ["demo", "--output-dir", str(target)], "is a file")
    assert target.read_text() == "keep me"


def test_unknown_config_keys(capsys, tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text('dataset = "digits"\nlearning_rate = 0.1\n')
    _fails_with_one_line(
        capsys, ["demo", "--config", str(path)], "learning_rate", "valid options"
    )


def test_unknown_method_lists_the_methods(capsys, tmp_path):
    _fails_with_one_line(
        capsys,
        ["demo", "--method", "magic", "--output-dir", str(tmp_path / "out")],
        "magic",
        "kd",
    )


def test_user_error_in_a_fresh_process_has_no_traceback(tmp_path):
    result = run_cli(
        ["demo", "--dataset", "nope", "--output-dir", str(tmp_path / "out")]
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = our_lines(result.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("keras-distill: error: Unknown dataset 'nope'")
    assert not (tmp_path / "out" / "report.json").exists()


def test_teacher_of_another_image_size_says_which_image_size_to_pass(capsys, tmp_path):
    from keras_distill.data import make_digits_image_folder

    folder = make_digits_image_folder(tmp_path / "digits", n_per_class=6)
    path = tmp_path / "teacher.keras"
    inputs = keras.Input((48, 48, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    keras.Model(inputs, keras.layers.Dense(10)(x)).save(path)
    _fails_with_one_line(
        capsys,
        ["demo", "--dataset", str(folder), "--image-size", "32", "--teacher", str(path)]
        + ["--output-dir", str(tmp_path / "out")],
        "(48, 48, 3)",
        "(32, 32, 3)",
        "pass --image-size 48",
    )


def test_student_too_big_for_the_image_size_is_refused_before_the_teacher_trains(
    capsys, tmp_path
):
    from keras_distill.data import make_digits_image_folder

    folder = make_digits_image_folder(tmp_path / "digits", n_per_class=6)
    cache = tmp_path / "cache"
    _fails_with_one_line(
        capsys,
        ["demo", "--dataset", str(folder), "--image-size", "16"]
        + ["--student", "mobilenet_v2", "--cache-dir", str(cache)]
        + ["--output-dir", str(tmp_path / "out")],
        "at least 32x32",
        "16x16",
    )
    assert not cache.exists() or not list(cache.iterdir())
