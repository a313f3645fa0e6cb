"""`keras-distill demo --dataset FOLDER` on folders of .wav clips and .txt files."""

import json

import numpy as np
import pytest
from cli_testing import our_lines
from cli_testing import run_cli

from keras_distill import _compat
from keras_distill.data import make_spoken_words_folder

WORDS = ("yes", "no")


@pytest.fixture(scope="module")
def words_folder(tmp_path_factory):
    """2 words x 6 espeak-ng speakers x 2 clips, Speech Commands' layout."""
    folder = tmp_path_factory.mktemp("speech") / "words"
    return make_spoken_words_folder(folder, words=WORDS, voices=6, clips_per_voice=2)


def _write_texts(folder, rng):
    """Two classes of short texts that share no content word."""
    topics = {
        "cooking": "bake boil flour oven pepper salt simmer soup stir sugar",
        "sailing": "anchor boat deck harbour keel mast rudder sail tide wind",
    }
    common = ["the", "a", "and", "of", "to", "with", "in", "on"]
    for label, words in topics.items():
        (folder / label).mkdir(parents=True)
        words = words.split()
        for i in range(40):
            tokens = rng.choice(words + common, size=rng.integers(5, 15))
            (folder / label / f"{i}.txt").write_text(" ".join(tokens).capitalize())
    return folder


def _input_details(path):
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    return list(detail["shape_signature"]), detail["dtype"]


@pytest.mark.slow
def test_demo_on_a_folder_of_wav_clips_exports_files_that_take_the_waveform(
    words_folder, tmp_path
):
    out = tmp_path / "out"
    result = run_cli(
        ["demo", "--fast", "--dataset", str(words_folder), "--clip-seconds", "0.5"]
        + ["--output-dir", str(out), "--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path,
    )
    if _compat.LEGACY_KERAS:
        # tf_keras has no MelSpectrogram: refused before training, saying why.
        assert result.returncode == 2
        assert any("Keras 3" in line for line in our_lines(result.stderr))
        assert not (out / "report.json").exists()
        return
    assert result.returncode == 0, result.stderr[-3000:]
    assert "clips of 0.5 s at 16,000 Hz" in result.stdout
    report = json.loads((out / "report.json").read_text())
    entry = report["dataset"]
    assert entry["modality"] == "audio"
    assert (entry["sample_rate"], entry["clip_seconds"]) == (16000, 0.5)
    assert entry["class_names"] == sorted(WORDS)
    assert report["method"]["name"] == "speech-kd"
    assert "split by speaker" in entry["description"]
    models = {model["name"]: model for model in report["models"]}
    for name in ("distilled_student", "compressed_student"):
        shape, dtype = _input_details(out / models[name]["tflite"])
        # The raw waveform: the log-mel front end is inside the file.
        assert shape[1:] == [8000] and dtype == np.float32
    assert (out / "labels.txt").read_text().split() == sorted(WORDS)


@pytest.mark.slow
def test_demo_on_a_folder_of_texts_writes_the_tokenizer_beside_int32_files(
    tmp_path,
):
    folder = _write_texts(tmp_path / "texts", np.random.default_rng(0))
    out = tmp_path / "out"
    result = run_cli(
        ["demo", "--fast", "--dataset", str(folder), "--sequence-length", "16"]
        + ["--teacher-epochs", "10", "--output-dir", str(out)]
        + ["--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "texts as 16 token ids" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["modality"] == "text"
    assert report["dataset"]["sequence_length"] == 16
    assert report["method"]["name"] == "text-kd"
    assert report["files"]["vocabulary"] == "vocab.txt"
    vocabulary = (out / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert len(vocabulary) >= report["dataset"]["vocabulary_size"]
    assert "rudder" in vocabulary and "flour" in vocabulary
    rules = json.loads((out / report["files"]["tokenizer"]).read_text())
    assert rules["sequence_length"] == 16
    models = {model["name"]: model for model in report["models"]}
    for name in ("distilled_student", "compressed_student"):
        shape, dtype = _input_details(out / models[name]["tflite"])
        assert shape[1:] == [16] and dtype == np.int32
    # Two topics without a shared content word: 10 epochs learn them (16
    # test texts; chance is 0.5).
    assert models["teacher"]["accuracy"] >= 0.8


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--clip-seconds", "0.5"], "--clip-seconds"),
        (["--method", "mixup-kd"], "does not fit text data"),
    ],
)
def test_demo_refuses_options_that_do_not_fit_the_folder(tmp_path, flags, message):
    folder = _write_texts(tmp_path / "texts", np.random.default_rng(1))
    out = tmp_path / "out"
    result = run_cli(
        ["demo", "--fast", "--dataset", str(folder), "--output-dir", str(out)] + flags,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert any(message in line for line in our_lines(result.stderr))
    assert not (out / "report.json").exists()
