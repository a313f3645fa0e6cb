"""Datasets as tf.data pipelines with raw inputs, plus what a model needs to know."""

from keras_distill.data.audio_folder import load_audio_folder
from keras_distill.data.cache import cache_dir
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.digits import load_digits
from keras_distill.data.digits_image_folder import make_digits_image_folder
from keras_distill.data.fortunes_folder import make_fortunes_folder
from keras_distill.data.image_folder import load_image_folder
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.mnist1d import load_mnist1d
from keras_distill.data.mnist1d import mnist1d_arrays
from keras_distill.data.pipeline import pipeline_throughput
from keras_distill.data.registry import DEFAULT_DATASET
from keras_distill.data.registry import dataset_choices
from keras_distill.data.registry import load_dataset
from keras_distill.data.registry import register_dataset
from keras_distill.data.spoken_words import make_spoken_words_folder
from keras_distill.data.text_folder import load_text_folder
from keras_distill.data.text_tokenizer import TextTokenizer
from keras_distill.data.tfds import DatasetNotPreparedError
from keras_distill.data.tfds import load_tfds

__all__ = [
    "DEFAULT_DATASET",
    "DataBundle",
    "DatasetNotPreparedError",
    "InputNormalization",
    "TextTokenizer",
    "cache_dir",
    "dataset_choices",
    "load_audio_folder",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "load_mnist1d",
    "load_text_folder",
    "load_tfds",
    "make_digits_image_folder",
    "make_fortunes_folder",
    "make_spoken_words_folder",
    "mnist1d_arrays",
    "pipeline_throughput",
    "register_dataset",
]
