"""`keras-distill demo --image-size N`: checked up front, passed to load_dataset."""

import pytest

from keras_distill import cli
from keras_distill.data import make_digits_image_folder
from keras_distill.demo import run
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.config import load_config
from keras_distill.demo.config import to_toml
from keras_distill.demo.dataset import load_data
from keras_distill.demo.plan import make_plan


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_digits_image_folder(
        tmp_path_factory.mktemp("img") / "digits", n_per_class=3, image_size=8
    )


def _config_from_flags(*flags):
    return cli.config_from_args(cli.build_parser().parse_args(["demo", *flags]))


@pytest.mark.parametrize("value", [7, 0, -32, True, 32.0, "32", [32, 32]])
def test_demo_image_size_too_small_or_not_an_int_is_a_usage_error(value):
    with pytest.raises(UsageError, match="option 'image_size' must be an int >= 8"):
        DemoConfig(image_size=value)


def test_demo_image_size_comes_from_the_flag_and_config_files(tmp_path):
    assert DemoConfig().image_size is None
    assert _config_from_flags("--image-size", "16").image_size == 16
    with pytest.raises(UsageError, match="image_size"):
        _config_from_flags("--image-size", "4")
    with pytest.raises(UsageError, match="image-size"):
        _config_from_flags("--image-size", "big")
    path = tmp_path / "demo.toml"
    path.write_text('dataset = "photos/"\nimage_size = 24\n')
    config = load_config(path)
    assert config.image_size == 24
    assert "image_size = 24" in to_toml(config)
    path.write_text("image-size = 5\n")
    with pytest.raises(UsageError, match="image_size"):
        load_config(path)


def test_demo_load_data_resizes_an_image_folder_to_image_size(folder):
    data = load_data(str(folder), batch_size=4, image_size=12)
    assert data.input_shape == (12, 12, 3)
    assert "resized to 12x12" in data.description
    x, _ = next(iter(data.train))
    assert tuple(x.shape) == (4, 12, 12, 3)
    default = load_data(str(folder), batch_size=4)
    assert default.input_shape == (64, 64, 3)
    assert "resized to 64x64" in default.description


def test_demo_image_size_for_a_dataset_without_images_is_a_usage_error():
    # The message names the flag the user typed.
    with pytest.raises(UsageError, match=r"Unknown option\(s\) \[--image-size\]"):
        load_data("digits", image_size=16)


def test_demo_data_stage_passes_image_size_to_the_loader(folder, tmp_path):
    config = DemoConfig(
        dataset=str(folder), image_size=10, output_dir=str(tmp_path / "out")
    )
    data = run.load(make_plan(config))
    assert data.input_shape == (10, 10, 3)


def test_demo_load_data_resizes_tfds_images_to_image_size():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=8):
        data = load_data("tfds:mnist", batch_size=4, image_size=14)
    assert data.input_shape == (14, 14, 1)
