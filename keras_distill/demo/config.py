"""The demo's options: one dataclass shared by CLI flags and config files.

Each field is one option. Its metadata gives the help text, so `keras-distill
demo --help`, TOML config files and `DemoConfig` all describe the same thing and
cannot drift apart (the CLI's parser is built from this class). Precedence:
defaults < config file < flags given on the command line.

This module imports no TensorFlow: the CLI reads options before it decides
which Keras to load.
"""

import dataclasses
import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from keras_distill._numbers import check_int
from keras_distill._numbers import check_real

QUANTIZATIONS = ("int8", "float16", "dynamic")
# Smaller images leave a CNN nothing to see after a couple of strided layers.
MIN_IMAGE_SIZE = 8
# A keyword-spotting clip; longer audio is not one word.
MAX_CLIP_SECONDS = 10.0
DEFAULT_OUTPUT_DIR = "demo_output"


class UsageError(Exception):
    """A mistake in the user's command, options or files: one line, exit code 2."""


def _option(default, help_text, *, metavar=None, choices=None):
    return dataclasses.field(
        default=default,
        metadata={"help": help_text, "metavar": metavar, "choices": choices},
    )


@dataclasses.dataclass
class DemoConfig:
    """Everything `keras-distill demo` can be told; the defaults are the demo.

    Example:
    ```python
    config = DemoConfig(dataset="digits", fast=True, output_dir="runs/digits")

    with open("demo.toml", "w") as f:  # the same fields, in a TOML file
        f.write('dataset = "digits"\\nfast = true\\noutput_dir = "runs/digits"\\n')
    assert load_config("demo.toml") == config
    ```
    """

    dataset: str = _option(
        "mnist1d",
        "Data to distil on: 'mnist1d' (generated offline with the generator's "
        "default arguments and its own train/test split), 'digits' (scikit-learn's "
        "8x8 digits), 'tfds:<name>' (a TFDS image-classification dataset, prepared "
        "offline) or the path of a folder with one sub-folder per class of "
        "images, of .wav clips (keyword spotting, Speech Commands' layout) or of "
        ".txt files (text classification).",
        metavar="NAME",
    )
    data_dir: str | None = _option(
        None,
        "TFDS data folder for 'tfds:<name>' datasets. Default: TFDS's "
        "(TFDS_DATA_DIR, or ~/tensorflow_datasets).",
        metavar="DIR",
    )
    image_size: int | None = _option(
        None,
        f"Resize images to NxN (N >= {MIN_IMAGE_SIZE}): image folders and "
        "'tfds:<name>' datasets. Default: 64x64 for image folders, the stored "
        "size for TFDS.",
        metavar="N",
    )
    clip_seconds: float | None = _option(
        None,
        "Folders of .wav clips: pad or cut every clip to this many seconds "
        "(at 16 kHz). Default: 1 s, Speech Commands' length.",
        metavar="S",
    )
    sequence_length: int | None = _option(
        None,
        "Folders of .txt files: token ids per text (longer texts are cut, "
        "shorter ones padded). Default: 64.",
        metavar="N",
    )
    output_dir: str = _option(
        DEFAULT_OUTPUT_DIR,
        "Folder for report.json, the plots, the .tflite files and labels.txt.",
        metavar="DIR",
    )
    fast: bool = _option(
        False,
        "Smoke run: every stage, few epochs and examples (under a minute).",
    )
    teacher: str | None = _option(
        None,
        "A trained teacher .keras file (outputs logits, takes raw examples). "
        "Default: train the preset teacher, or reuse the one cached in "
        "--cache-dir.",
        metavar="FILE",
    )
    student: str | None = _option(
        None,
        "Student preset ('mlp': 100-100 MLP, 'mlp-small'; vectors read as "
        "sequences: 'cnn1d', 'gru', 'lstm', 'transformer'; for images 'cnn-tiny' "
        "and, from 32x32, 'mobilenet_v2', 'mobilenet_v3_small' and "
        "'mobilenet_v3_small_minimalistic') or an "
        "untrained Functional .keras file. Default: 'mlp' for vectors, "
        "'mobilenet_v3_small_minimalistic' for images of at least 32x32, else "
        "'cnn-tiny'.",
        metavar="PRESET_OR_FILE",
    )
    method: str | None = _option(
        None,
        "Distillation method (see the list under 'methods' below). Default: the "
        "package's best method.",
        metavar="NAME",
    )
    temperature: float | None = _option(
        None, "Softmax temperature T. Default: the method's.", metavar="T"
    )
    alpha: float | None = _option(
        None,
        "Weight of the label loss in [0, 1]; 1 - alpha weights distillation. "
        "Default: the method's.",
        metavar="A",
    )
    epochs: int | None = _option(
        None,
        "Epochs of the baseline and distilled students. Default: the method's "
        "schedule (a few with --fast).",
        metavar="N",
    )
    teacher_epochs: int | None = _option(
        None, "Epochs of the teacher when it is trained.", metavar="N"
    )
    compress_epochs: int | None = _option(
        None,
        "Epochs of distillation while pruning, and again during quantization-aware "
        "training.",
        metavar="N",
    )
    batch_size: int = _option(128, "Batch size for every stage.", metavar="N")
    sparsity: float = _option(
        0.5,
        "Fraction of the student's weights pruned to zero while distilling "
        "(0 skips pruning).",
        metavar="S",
    )
    quantization: str = _option(
        "int8",
        "How the compressed student is quantized: 'int8' (quantization-aware "
        "training, then a full-integer .tflite), 'float16' or 'dynamic' "
        "(post-training).",
        choices=QUANTIZATIONS,
    )
    cache_dir: str = _option(
        "saved_models",
        "Where trained teachers are cached and reused by later runs.",
        metavar="DIR",
    )
    retrain_teacher: bool = _option(
        False, "Train the teacher even when a cached one exists."
    )
    seed: int = _option(0, "Random seed for data shuffling and weights.", metavar="N")

    def __post_init__(self):
        check_config(self)


def field_names() -> list[str]:
    """The option names, as config files spell them."""
    return [field.name for field in dataclasses.fields(DemoConfig)]


def _type_error(name, value, expected):
    return UsageError(
        f"option {name!r} must be {expected}, got {type(value).__name__} {value!r}"
    )


def _check_number(config: DemoConfig, name: str, check, *args, **kwargs) -> None:
    """Runs a `keras_distill._numbers` check on one option, as a UsageError.

    The option keeps the checked value, so a NumPy number becomes a Python one.
    """
    try:
        value = check(name, getattr(config, name), *args, **kwargs)
    except (TypeError, ValueError) as err:
        raise UsageError(str(err).replace(f"`{name}`", f"option {name!r}")) from None
    setattr(config, name, value)


def check_config(config: DemoConfig) -> None:
    """Checks every option's type and range; raises UsageError naming the option."""
    for name in ("dataset", "output_dir", "cache_dir"):
        value = getattr(config, name)
        if not isinstance(value, str) or not value:
            raise _type_error(name, value, "a non-empty string")
    for name in ("teacher", "student", "method", "data_dir"):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise _type_error(name, value, "a non-empty string")
    for name in ("fast", "retrain_teacher"):
        if not isinstance(getattr(config, name), bool):
            raise _type_error(name, getattr(config, name), "true or false")
    for name, low in (
        ("epochs", 1),
        ("teacher_epochs", 1),
        ("compress_epochs", 1),
        ("batch_size", 1),
        ("seed", 0),
        ("image_size", MIN_IMAGE_SIZE),
        ("sequence_length", 1),
    ):
        if getattr(config, name) is None and name not in ("batch_size", "seed"):
            continue
        _check_number(config, name, check_int, low)
    if config.temperature is not None:
        _check_number(config, "temperature", check_real, low=0, low_inclusive=False)
    if config.alpha is not None:
        _check_number(config, "alpha", check_real, low=0, high=1)
    if config.clip_seconds is not None:
        _check_number(
            config,
            "clip_seconds",
            check_real,
            low=0,
            low_inclusive=False,
            high=MAX_CLIP_SECONDS,
            hint="Speech Commands' clips are 1 s.",
        )
    _check_number(
        config,
        "sparsity",
        check_real,
        low=0,
        high=1,
        high_inclusive=False,
        hint="0.5 prunes half the weights.",
    )
    if config.quantization not in QUANTIZATIONS:
        raise UsageError(
            f"option 'quantization' must be one of {', '.join(QUANTIZATIONS)}, got "
            f"{config.quantization!r}"
        )


def config_from_dict(values: dict, source: str = "config") -> DemoConfig:
    """A `DemoConfig` from a dict of option names to values.

    Args:
        values: dict, option name (underscores or dashes) -> value.
        source: str, where the values come from, for messages. Defaults to
            "config".

    Returns:
        The checked `DemoConfig`.

    Raises:
        UsageError: an unknown key (the message lists the valid ones) or a bad
            value.
    """
    names = field_names()
    normalized = {str(key).replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(normalized) - set(names))
    if unknown:
        raise UsageError(
            f"{source}: unknown option(s) {', '.join(unknown)}; valid options: "
            f"{', '.join(names)}"
        )
    return DemoConfig(**normalized)


YAML_SUFFIXES = (".yaml", ".yml")


def _parse_yaml(text: str, name: str) -> dict:
    try:
        import yaml
    except ImportError:
        raise UsageError(
            f"config file {name!r} is YAML, which needs PyYAML (pip install "
            "pyyaml); or write the same keys as TOML"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UsageError(
            f"config file {name!r} is not valid YAML: {' '.join(str(err).split())}"
        ) from None
    return {} if data is None else data


def read_config_file(path: "str | os.PathLike") -> dict:
    """Reads a TOML (or YAML) config file into a dict of option values.

    The file holds option names as top-level keys, or under a `demo` table:

    ```toml
    dataset = "digits"
    epochs = 40
    sparsity = 0.5
    ```

    Files ending in `.yaml` or `.yml` are read as YAML (with PyYAML, which is
    optional) and hold the same keys. Values are checked later, by
    `config_from_dict`.

    Raises:
        UsageError: the file cannot be read, is not valid TOML/YAML, or does
            not hold a table of options.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        raise UsageError(f"config file {name!r} does not exist") from None
    except OSError as err:
        raise UsageError(f"cannot read config file {name!r}: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"config file {name!r} is not UTF-8 text") from None
    if name.lower().endswith(YAML_SUFFIXES):
        data = _parse_yaml(text, name)
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise UsageError(f"config file {name!r} is not valid TOML: {err}") from None
    if isinstance(data, dict) and set(data) == {"demo"}:
        data = data["demo"]
    if not isinstance(data, dict):
        raise UsageError(
            f"config file {name!r} must hold option names and values (a table), "
            f"got {type(data).__name__}"
        )
    return data


def load_config(path: "str | os.PathLike", **overrides) -> DemoConfig:
    """Reads a TOML (or YAML) config file into a checked `DemoConfig`.

    Args:
        path: str or path-like, the TOML file (`.yaml`/`.yml`: YAML).
        **overrides: option values that replace the file's (e.g. from flags).

    Returns:
        The `DemoConfig`.

    Raises:
        UsageError: unreadable or invalid TOML, unknown keys, bad values.
    """
    values = read_config_file(path)
    values.update(overrides)
    return config_from_dict(values, source=f"config file {os.fspath(path)!r}")


def to_toml(config: DemoConfig) -> str:
    """The config as TOML text that `load_config` reads back (None values left out)."""
    lines = []
    for name in field_names():
        value = getattr(config, name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"
