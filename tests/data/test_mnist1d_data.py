"""MNIST-1D: generated offline with default arguments, cached atomically."""

import random
import warnings

import numpy as np
import pytest
from mnist1d.data import get_dataset_args
from mnist1d.data import make_dataset

import keras_distill.data.mnist1d as mnist1d_module
from keras_distill.data import cache_dir
from keras_distill.data import load_mnist1d
from keras_distill.data import mnist1d_arrays
from keras_distill.data.cache import save_npz_atomically


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One generated cache for the module: tests never touch the real home cache."""
    return tmp_path_factory.mktemp("keras_distill_cache")


@pytest.fixture(autouse=True)
def cache_env(shared_cache, monkeypatch):
    monkeypatch.setenv("KERAS_DISTILL_CACHE", str(shared_cache))
    return shared_cache


@pytest.fixture(scope="module")
def reference():
    """The generator's own output, as the published recipe makes it."""
    return make_dataset(get_dataset_args())


def test_cache_dir_follows_env_var_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_DISTILL_CACHE", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    assert cache_dir(tmp_path / "b") == tmp_path / "b"
    monkeypatch.delenv("KERAS_DISTILL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "keras_distill"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "keras_distill"


def test_mnist1d_arrays_equal_the_generator_defaults_and_split(reference):
    arrays = mnist1d_arrays()
    assert arrays["x"].shape == (4000, 40)
    assert arrays["x_test"].shape == (1000, 40)
    assert arrays["y"].shape == (4000,)
    assert arrays["y_test"].shape == (1000,)
    for key in ("x", "y", "x_test", "y_test"):
        np.testing.assert_array_equal(arrays[key], reference[key])
    assert set(np.unique(arrays["y"])) == set(range(10))
    # The generator standardizes the whole dataset: floats around 0, not pixels.
    assert arrays["x"].dtype == np.float64
    assert -7 < arrays["x"].min() < -4 and 4 < arrays["x"].max() < 7


def test_mnist1d_second_call_reads_the_cache_without_generating(cache_env, monkeypatch):
    first = mnist1d_arrays()
    files = list(cache_env.glob("mnist1d-*.npz"))
    assert len(files) == 1

    def fail():
        raise AssertionError("regenerated although the cache file exists")

    monkeypatch.setattr(mnist1d_module, "_generate", fail)
    second = mnist1d_arrays()
    np.testing.assert_array_equal(second["x"], first["x"])
    # No temporary files are left behind by the atomic write.
    assert [p.name for p in cache_env.iterdir()] == [files[0].name]


@pytest.fixture
def fast_generate(monkeypatch, reference):
    """Regeneration returns the reference at once (the real one takes ~1 s)."""
    calls = []

    def generate():
        calls.append(1)
        return {key: reference[key] for key in ("x", "y", "x_test", "y_test")}

    monkeypatch.setattr(mnist1d_module, "_generate", generate)
    return calls


def test_mnist1d_corrupt_cache_file_is_regenerated_with_a_warning(
    tmp_path, shared_cache, reference, fast_generate
):
    mnist1d_arrays()  # fills the shared cache (regenerating if it was empty)
    (cached,) = shared_cache.glob("mnist1d-*.npz")
    path = tmp_path / cached.name
    path.write_bytes(b"not a zip file")
    fast_generate.clear()
    with pytest.warns(UserWarning, match="unreadable MNIST-1D cache"):
        arrays = mnist1d_arrays(cache_dir=tmp_path)
    assert fast_generate == [1]
    np.testing.assert_array_equal(arrays["x_test"], reference["x_test"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = mnist1d_arrays(cache_dir=tmp_path)
    assert fast_generate == [1]
    np.testing.assert_array_equal(again["x_test"], reference["x_test"])


def test_mnist1d_unwritable_cache_warns_and_still_returns_the_data(
    tmp_path, reference, fast_generate
):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="Could not cache MNIST-1D"):
        arrays = mnist1d_arrays(cache_dir=blocker / "cache")
    np.testing.assert_array_equal(arrays["y"], reference["y"])


def test_mnist1d_generation_leaves_the_global_random_state_alone(tmp_path):
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    mnist1d_arrays(cache_dir=tmp_path)  # empty dir: generates
    assert np.random.rand() == expected_np
    assert random.random() == expected_py


def test_save_npz_atomically_replaces_the_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.npz"
    save_npz_atomically(path, a=np.arange(3))
    save_npz_atomically(path, a=np.arange(5))
    with np.load(path) as loaded:
        np.testing.assert_array_equal(loaded["a"], np.arange(5))
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]


def test_load_mnist1d_gives_raw_float32_pipelines_and_arrays(reference):
    data = load_mnist1d(batch_size=128)
    assert data.name == "mnist1d"
    assert data.input_shape == (40,)
    assert data.num_classes == 10
    assert data.class_names == tuple("0123456789")
    assert data.num_examples == {"train": 4000, "test": 1000}
    assert data.validation is None and data.x_val is None
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32
    np.testing.assert_allclose(data.x_test, reference["x_test"], rtol=1e-6, atol=1e-6)
    sizes = [int(y.shape[0]) for _, y in data.test]
    assert sizes == [128] * 7 + [1000 - 7 * 128]
    # The test pipeline keeps the generator's order; inputs stay raw.
    x_first, y_first = next(iter(data.test))
    np.testing.assert_array_equal(x_first.numpy(), data.x_test[:128])
    np.testing.assert_array_equal(y_first.numpy(), data.y_test[:128])


def test_load_mnist1d_normalization_standardizes_with_train_statistics():
    data = load_mnist1d(validation_fraction=0.25)
    x_train = data.x_train.astype(np.float64)
    np.testing.assert_allclose(data.normalization.mean, x_train.mean(0), atol=1e-6)
    np.testing.assert_allclose(data.normalization.variance, x_train.var(0), rtol=1e-5)
    normalized = np.asarray(data.preprocessing_layer()(data.x_test[:50]))
    np.testing.assert_allclose(
        normalized, data.normalization.apply(data.x_test[:50]), rtol=1e-5, atol=1e-5
    )
    standardized_train = data.normalization.apply(x_train)
    np.testing.assert_allclose(standardized_train.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(standardized_train.std(0), 1.0, atol=1e-6)


def test_load_mnist1d_validation_is_a_stratified_part_of_train(reference):
    data = load_mnist1d(validation_fraction=0.1, seed=3)
    assert data.num_examples == {"train": 3600, "validation": 400, "test": 1000}
    assert np.bincount(data.y_val, minlength=10).min() >= 38
    together = np.concatenate([data.x_train, data.x_val]).astype(np.float64)
    np.testing.assert_allclose(
        np.sort(together, axis=0), np.sort(reference["x"], axis=0), atol=1e-6
    )
    assert sum(int(y.shape[0]) for _, y in data.validation) == 400


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
    ],
)
def test_load_mnist1d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_mnist1d(**kwargs)


def test_load_mnist1d_refuses_a_batch_size_that_is_not_an_int():
    with pytest.raises(TypeError, match="batch_size"):
        load_mnist1d(batch_size=2.5)
