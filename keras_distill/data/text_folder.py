"""A folder of text files with one sub-folder per class, as token-id pipelines."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_distill._numbers import check_int
from keras_distill.data._checks import check_batch_size
from keras_distill.data._checks import check_folder_path
from keras_distill.data._checks import check_seed
from keras_distill.data._checks import check_split_fractions
from keras_distill.data.class_folders import class_subfolders
from keras_distill.data.class_folders import walk_sorted
from keras_distill.data.data_bundle import DataBundle
from keras_distill.data.image_files import _hash_key
from keras_distill.data.image_files import _round_half_up
from keras_distill.data.image_folder import _stacklevel_outside_this_package
from keras_distill.data.input_normalization import InputNormalization
from keras_distill.data.pipeline import AUTOTUNE
from keras_distill.data.text_tokenizer import OOV_TOKEN
from keras_distill.data.text_tokenizer import PAD_TOKEN
from keras_distill.data.text_tokenizer import TextTokenizer
from keras_distill.data.text_tokenizer import split_tokens
from keras_distill.data.text_tokenizer import standardize_text

__all__ = ["TEXT_FORMATS", "load_text_folder"]

TEXT_FORMATS = (".txt",)
_TOKENIZE_BATCH = 256
STANDARDIZE = "lower_and_strip_punctuation"
_LAYOUT = (
    "expected a folder with one sub-folder per class, each holding that class's "
    ".txt files (UTF-8), e.g. reviews/neg/1.txt, reviews/pos/2.txt"
)


@dataclasses.dataclass(frozen=True)
class _TextFiles:
    directory: str
    class_names: tuple[str, ...]
    texts: tuple[dict[str, str], ...]  # per class: relative path -> text
    skipped: tuple[tuple[str, str], ...]

    def skipped_summary(self, first: int = 3) -> str:
        shown = ", ".join(f"{path}: {why}" for path, why in self.skipped[:first])
        extra = len(self.skipped) - first
        more = f", and {extra} more" if extra > 0 else ""
        return f"{len(self.skipped)} file(s) ({shown}{more})"


def _read_text(path: str) -> tuple[str | None, str | None]:
    """`(text, None)` for a UTF-8 text file, else `(None, why it is skipped)`."""
    if not path.lower().endswith(TEXT_FORMATS):
        return None, "not a .txt file"
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    if b"\0" in data:
        return None, "binary (holds NUL bytes)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text (bad byte at offset {err.start})"
    # Notepad's byte-order mark is an encoding detail, not part of the first word.
    return text.removeprefix("\ufeff"), None


def _list_texts(directory: Path) -> _TextFiles:
    classes = class_subfolders(directory, _LAYOUT)
    texts, skipped, empty = [], [], []
    for name in classes:
        readable = {}
        for path in walk_sorted(directory / name):
            relative = Path(path).relative_to(directory).as_posix()
            text, why = _read_text(path)
            if why is None:
                readable[relative] = text
            else:
                skipped.append((relative, why))
        if not readable:
            empty.append(name)
        texts.append(readable)
    if empty:
        raise ValueError(
            f"Class folder(s) {empty} in {str(directory)!r} hold no readable text "
            "files (.txt, UTF-8); add files or remove the folder(s)."
        )
    return _TextFiles(
        str(directory), tuple(classes), tuple(texts), tuple(sorted(skipped))
    )


def _split(listing: _TextFiles, test_fraction, validation_fraction, seed) -> dict:
    """Split name -> list of `(text, label)`, by file, stratified, seeded.

    The same rule as image folders (`image_files.split_files`): per class,
    files ordered by a SHA-256 hash of seed and path; first the test files,
    then validation, the rest train; each split then in a seeded order.
    """
    splits = {"train": [], "test": []}
    if validation_fraction > 0:
        splits["validation"] = []
    for label, (name, texts) in enumerate(
        zip(listing.class_names, listing.texts, strict=True)
    ):
        ordered = sorted(texts, key=lambda path: _hash_key(seed, path))
        n_test = _round_half_up(test_fraction * len(ordered))
        n_val = _round_half_up(validation_fraction * len(ordered))
        if n_test + n_val >= len(ordered):
            raise ValueError(
                f"Class {name!r} has {len(ordered)} text file(s): too few to hold "
                f"out test_fraction={test_fraction} (and validation_fraction="
                f"{validation_fraction}) and keep one for training; add files or "
                "change the fractions."
            )
        bounds = {"test": (0, n_test), "validation": (n_test, n_test + n_val)}
        bounds["train"] = (n_test + n_val, len(ordered))
        for split, examples in splits.items():
            start, stop = bounds[split]
            examples += [(path, label) for path in ordered[start:stop]]
    for split, examples in splits.items():
        if not examples:
            raise ValueError(
                f"{sum(map(len, listing.texts))} text files in {listing.directory!r} "
                f"are too few to hold out test_fraction={test_fraction} and "
                f"validation_fraction={validation_fraction}: the {split} split "
                "would be empty; add files or raise the fraction."
            )
    texts = {path: text for by_path in listing.texts for path, text in by_path.items()}
    return {
        split: [
            (texts[path], label)
            for path, label in sorted(
                examples, key=lambda example: _hash_key(seed, "order:" + example[0])
            )
        ]
        for split, examples in splits.items()
    }


def _vocabulary(tokenized: list[list[str]], max_tokens: int) -> tuple[str, ...]:
    """Padding, `[UNK]`, then the most frequent tokens (ties: by code point)."""
    counts = Counter(token for tokens in tokenized for token in tokens)
    counts.pop(OOV_TOKEN, None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return (PAD_TOKEN, OOV_TOKEN) + tuple(t for t, _ in ranked[: max_tokens - 2])


def _token_ids(layer, examples: list[tuple[str, int]]) -> tf.data.Dataset:
    texts, labels = zip(*examples, strict=True)
    source = tf.data.Dataset.from_tensor_slices(
        (list(texts), tf.constant(labels, tf.int32))
    )
    # TextVectorization works on batches of strings; int64 ids become int32.
    return (
        source.batch(_TOKENIZE_BATCH)
        .map(lambda text, label: (tf.cast(layer(text), tf.int32), label))
        .unbatch()
    )


def _pipeline(x, y, *, batch_size, training, seed, shuffle_buffer):
    examples = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        examples = examples.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    return examples.batch(batch_size).prefetch(AUTOTUNE)


def load_text_folder(
    directory: str | os.PathLike,
    *,
    batch_size: int = 32,
    seed: int = 0,
    max_tokens: int = 10_000,
    sequence_length: int = 64,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.0,
    shuffle_buffer: int = 10_000,
) -> DataBundle:
    """Text files in class sub-folders as int32 token ids, with a leak-free split.

    Layout as `keras.utils.text_dataset_from_directory`:
    `directory/<class name>/<name>.txt` (nested folders allowed); class names
    are the sorted sub-folder names (label 0 is the first); hidden files and
    folders are ignored. Every file is read up front: files that are not
    `.txt`, hold NUL bytes (binary) or are not valid UTF-8 are skipped with one
    warning naming how many and the first few, and the count is in
    `description`. A leading UTF-8 byte-order mark is dropped.

    The split is by file, stratified per class and seeded, as in
    `load_image_folder`: within each class, files are ordered by a SHA-256 hash
    of `seed` and their path; the first `round(test_fraction * n)` are test,
    the next `round(validation_fraction * n)` validation, the rest train.

    The vocabulary is built from the training split only (so evaluation sees
    words the model never saw as `[UNK]`, as an app will): the
    `max_tokens - 2` most frequent tokens after padding and `[UNK]`, ties
    broken by code point order. Each text is turned into `sequence_length` ids
    by `tokenizer.layer()` (a `TextVectorization`) in tf.data; see
    `TextTokenizer` for the rules and `tokenizer.write()` for the files an app
    needs. Text corpora are small, so the ids are also kept as NumPy arrays.

    Args:
        directory: str or path-like, the root folder.
        batch_size: int, examples per batch. Defaults to 32.
        seed: int, seed of the split, of each split's order and of the training
            shuffle. Defaults to 0.
        max_tokens: int >= 3, the vocabulary size, padding and `[UNK]`
            included (as TextVectorization counts). Defaults to 10000.
        sequence_length: int >= 1, ids per text: longer texts keep their first
            tokens, shorter ones are padded with 0. Defaults to 64.
        test_fraction: float in (0, 1), the part of each class held out as
            `test`. Defaults to 0.2.
        validation_fraction: float in [0, 1), the part of each class held out
            as `validation`. Defaults to 0.0 (none).
        shuffle_buffer: int, the most examples in the shuffle buffer. Defaults to
            10000.

    Returns:
        A `DataBundle` with `input_shape=(sequence_length,)`, `tokenizer` set,
        pipelines of `(int32 ids, int32 label)` and the ids as int32 arrays
        (`x_train`, ...).

    Raises:
        ValueError: if the folder does not exist, has fewer than two class
            sub-folders or one without a readable text file, a class has too
            few files for the split, the training texts hold no token, or an
            argument is out of range.
        TypeError: if an argument has the wrong type.

    Example:

    ```python
    import tempfile

    from keras_distill.data import make_fortunes_folder

    folder = make_fortunes_folder(f"{tempfile.mkdtemp()}/fortunes")
    data = load_text_folder(folder, max_tokens=5000, sequence_length=64)
    data.x_train.shape  # (n, 64), int32 token ids
    data.tokenizer.write("app/assets")  # vocab.txt and tokenizer.json
    ```
    """
    check_folder_path(directory)
    batch_size = check_batch_size(batch_size)
    seed = check_seed(seed)
    max_tokens = check_int(
        "max_tokens", max_tokens, 3, "It counts padding and [UNK], e.g. 10000."
    )
    sequence_length = check_int("sequence_length", sequence_length, 1, "E.g. 64.")
    test_fraction, validation_fraction = check_split_fractions(
        test_fraction, validation_fraction, "texts"
    )
    shuffle_buffer = check_int("shuffle_buffer", shuffle_buffer, 1)
    name = str(Path(directory).expanduser())
    directory = Path(name).absolute()
    listing = _list_texts(directory)
    splits = _split(listing, test_fraction, validation_fraction, seed)
    tokenized = {
        split: [
            split_tokens(standardize_text(text, STANDARDIZE)) for text, _ in examples
        ]
        for split, examples in splits.items()
    }
    vocabulary = _vocabulary(tokenized["train"], max_tokens)
    if len(vocabulary) < 3:
        raise ValueError(
            f"The training texts in {str(directory)!r} hold no token (only "
            "whitespace and punctuation); add text to the files."
        )
    tokenizer = TextTokenizer(vocabulary, sequence_length, STANDARDIZE)
    if listing.skipped:
        warnings.warn(
            f"Skipped {listing.skipped_summary()} in {str(directory)!r}: not "
            "UTF-8 .txt files. Remove or fix them to silence this warning.",
            stacklevel=_stacklevel_outside_this_package(),
        )
    layer = tokenizer.layer()
    examples = {
        split: _token_ids(layer, split_examples)
        for split, split_examples in splits.items()
    }
    arrays = {}
    for split, dataset in examples.items():
        ids, labels = zip(*dataset.batch(_TOKENIZE_BATCH).as_numpy_iterator())
        arrays[split] = (np.concatenate(ids), np.concatenate(labels))
    num_examples = {split: len(y) for split, (_, y) in arrays.items()}

    def pipeline(split: str) -> tf.data.Dataset:
        return _pipeline(
            *arrays[split],
            batch_size=batch_size,
            training=split == "train",
            seed=seed,
            shuffle_buffer=min(shuffle_buffer, num_examples["train"]),
        )

    known = set(vocabulary[2:])
    test_tokens = [token for tokens in tokenized["test"] for token in tokens]
    unknown = sum(token not in known for token in test_tokens)
    truncated = sum(len(tokens) > sequence_length for tokens in tokenized["train"])
    counts = " / ".join(f"{n} {split}" for split, n in num_examples.items())
    skipped = (
        f" Skipped {listing.skipped_summary()}: not UTF-8 .txt files."
        if listing.skipped
        else ""
    )
    x_val, y_val = arrays.get("validation", (None, None))
    return DataBundle(
        name=name,
        train=pipeline("train"),
        test=pipeline("test"),
        validation=pipeline("validation") if "validation" in arrays else None,
        input_shape=(sequence_length,),
        num_classes=len(listing.class_names),
        class_names=listing.class_names,
        normalization=InputNormalization.rescale(1.0),
        batch_size=batch_size,
        examples=examples,
        num_examples=num_examples,
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        x_val=x_val,
        y_val=y_val,
        x_test=arrays["test"][0],
        y_test=arrays["test"][1],
        description=(
            f"Text folder {directory}: {len(listing.class_names)} classes, "
            f"{counts} (split by file, stratified per class, seed {seed}); "
            f"vocabulary of {tokenizer.vocabulary_size} tokens (padding and [UNK] "
            f"included) from the training texts; {unknown} of {len(test_tokens)} "
            f"test tokens ({unknown / max(len(test_tokens), 1):.1%}) are out of "
            f"vocabulary; {truncated} of {num_examples['train']} training texts "
            f"are longer than {sequence_length} tokens (truncated).{skipped}"
        ),
        tokenizer=tokenizer,
    )
