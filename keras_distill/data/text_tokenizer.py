"""TextTokenizer: text -> int32 token ids by rules simple enough to re-implement.

LiteRT has no builtin string ops, so a text model exported to `.tflite` takes
token ids, and the app must tokenize exactly as training did. The rules here
are `keras.layers.TextVectorization`'s defaults, spelled out (measured on
TensorFlow 2.21, identical in Keras 3 and tf_keras):

1. lower-case ASCII only: `A`-`Z` become `a`-`z`; `É`, `Σ` stay as they are
   (`tf.strings.lower` without an encoding works on ASCII);
2. delete every character matched by `STRIP_PUNCTUATION_REGEX` (ASCII
   punctuation only: `’`, `—` and `“` stay);
3. split on runs of ASCII whitespace (space, tab, `\\n`, `\\v`, `\\f`, `\\r`);
   Unicode spaces such as U+00A0 do not split, and there are no empty tokens;
4. look each token up (exact, no Unicode normalization): its index in the
   vocabulary, or 1 (`[UNK]`) if absent;
5. keep the first `sequence_length` ids and pad with 0 after them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from keras_distill._atomic import resolve_output_path
from keras_distill._atomic import write_text_atomic
from keras_distill._compat import keras
from keras_distill._numbers import check_int

__all__ = [
    "OOV_ID",
    "OOV_TOKEN",
    "PAD_ID",
    "PAD_TOKEN",
    "STANDARDIZE_OPTIONS",
    "STRIP_PUNCTUATION_REGEX",
    "TextTokenizer",
]

PAD_TOKEN, PAD_ID = "", 0
OOV_TOKEN, OOV_ID = "[UNK]", 1
# TextVectorization's own pattern (keras/src/layers/preprocessing/
# text_vectorization.py), character for character.
STRIP_PUNCTUATION_REGEX = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
STANDARDIZE_OPTIONS = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer.json"
_FORMAT = "keras_distill.TextTokenizer/1"
_STRIP = re.compile(STRIP_PUNCTUATION_REGEX)
_STRIPPED_CHARACTERS = "".join(c for c in map(chr, range(128)) if _STRIP.fullmatch(c))
_WHITESPACE = " \t\n\v\f\r"
_SPLIT = re.compile(f"[{re.escape(_WHITESPACE)}]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def standardize_text(text: str, standardize: str | None) -> str:
    """`text` after TextVectorization's `standardize` step (see module doc)."""
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _STRIP.sub("", text)
    return text


def split_tokens(text: str) -> list[str]:
    """`text` split on runs of ASCII whitespace, without empty tokens."""
    return [token for token in _SPLIT.split(text) if token]


@dataclasses.dataclass(frozen=True)
class TextTokenizer:
    """A vocabulary and the rules that turn a text into int32 token ids.

    The ids are those of `keras.layers.TextVectorization(output_mode="int")`
    with this vocabulary: id 0 pads, id 1 is any token not in the vocabulary
    (`[UNK]`), id i >= 2 is `vocabulary[i]`. `layer()` builds that Keras layer
    for a tf.data pipeline; `encode()` is a pure-Python reference of the same
    rules (what an app re-implements); `write()` saves `vocab.txt` and
    `tokenizer.json`, the files an app needs. The rules are in the module
    docstring and in `tokenizer.json`.

    Args:
        vocabulary: tuple of str, the token of each id: `""` (padding) first,
            `"[UNK]"` second, then distinct, non-empty tokens without ASCII
            whitespace that `standardize` leaves unchanged (others could never
            match). A list is accepted.
        sequence_length: int >= 1, ids per text: longer texts keep their first
            `sequence_length` tokens, shorter ones are padded with 0 at the end.
        standardize: str, `"lower_and_strip_punctuation"`, `"lower"` or
            `"strip_punctuation"`, TextVectorization's step before splitting.
            Defaults to `"lower_and_strip_punctuation"`.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if the vocabulary breaks one of the rules above or a number
            is out of range.

    Example:

    ```python
    tokenizer = TextTokenizer(("", "[UNK]", "the", "cat"), sequence_length=4)
    tokenizer.encode(["The cat, the DOG!"])  # [[2, 3, 2, 1]]
    texts = tf.data.Dataset.from_tensor_slices(["the cat", "a dog"])
    ids = texts.batch(8).map(tokenizer.layer())
    tokenizer.write("assets/")  # assets/vocab.txt, assets/tokenizer.json
    ```
    """

    vocabulary: tuple[str, ...]
    sequence_length: int
    standardize: str = "lower_and_strip_punctuation"

    def __post_init__(self):
        if isinstance(self.vocabulary, str) or not all(
            isinstance(token, str) for token in self.vocabulary
        ):
            raise TypeError(
                "`vocabulary` must be a tuple of str (index = token id), got "
                f"{self.vocabulary!r:.80}."
            )
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        object.__setattr__(
            self,
            "sequence_length",
            check_int("sequence_length", self.sequence_length, 1),
        )
        if self.standardize not in STANDARDIZE_OPTIONS:
            raise ValueError(
                f"`standardize` must be one of {STANDARDIZE_OPTIONS}, got "
                f"{self.standardize!r}."
            )
        vocabulary = self.vocabulary
        if vocabulary[:2] != (PAD_TOKEN, OOV_TOKEN) or len(vocabulary) < 3:
            raise ValueError(
                f"`vocabulary` must start with {PAD_TOKEN!r} (id 0, padding) and "
                f"{OOV_TOKEN!r} (id 1, out of vocabulary) and hold at least one "
                f"token after them, got {list(vocabulary[:3])}..."
            )
        seen = set()
        for index, token in enumerate(vocabulary[2:], start=2):
            if not token or split_tokens(token) != [token]:
                problem = "is empty or holds whitespace"
            elif standardize_text(token, self.standardize) != token:
                problem = (
                    f"is changed by standardize={self.standardize!r} (to "
                    f"{standardize_text(token, self.standardize)!r}), so no text "
                    "can produce it"
                )
            elif token in seen or token == OOV_TOKEN:
                problem = "is repeated"
            else:
                seen.add(token)
                continue
            raise ValueError(
                f"`vocabulary` token {index} {token!r} {problem}; build the "
                "vocabulary from `tokens()` of your texts."
            )

    @property
    def vocabulary_size(self) -> int:
        """The number of ids, padding and `[UNK]` included."""
        return len(self.vocabulary)

    def tokens(self, text: str) -> list[str]:
        """The tokens of one text: standardized, then split on whitespace.

        Args:
            text: str, one text.

        Returns:
            list of str, every token (before lookup and truncation).
        """
        return split_tokens(standardize_text(text, self.standardize))

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """Token ids of texts, by the pure-Python reference of the rules.

        Gives the same ids as `layer()` (tests check this on tricky text), and
        is the reference to port to an app.

        Args:
            texts: iterable of str (a list of one text for one text).

        Returns:
            np.ndarray of int32, shape `(len(texts), sequence_length)`.

        Raises:
            TypeError: if `texts` is a single str or holds a non-str.
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError(
                "`texts` must be a list of str; for one text pass [text], got a "
                f"{type(texts).__name__}."
            )
        texts = list(texts)
        if not all(isinstance(text, str) for text in texts):
            raise TypeError(
                "`texts` must hold str only (decode bytes as UTF-8 first), got "
                f"{sorted({type(t).__name__ for t in texts})}."
            )
        ids = {token: index for index, token in enumerate(self.vocabulary)}
        out = np.full((len(texts), self.sequence_length), PAD_ID, np.int32)
        for row, text in enumerate(texts):
            tokens = self.tokens(text)[: self.sequence_length]
            out[row, : len(tokens)] = [ids.get(token, OOV_ID) for token in tokens]
        return out

    def layer(self, name: str | None = None) -> keras.layers.Layer:
        """A new `keras.layers.TextVectorization` applying these rules.

        Use it in a tf.data pipeline (`dataset.batch(n).map(...)`), not in the
        exported model: LiteRT has no builtin string ops. It takes a batch of
        strings, shape `(batch,)`, and returns int64 ids of shape
        `(batch, sequence_length)` (cast them to int32 for the model).

        Args:
            name: str, the layer's name. Defaults to None (Keras picks one).

        Returns:
            A `TextVectorization` layer with this vocabulary.
        """
        return keras.layers.TextVectorization(
            vocabulary=list(self.vocabulary),
            standardize=self.standardize,
            split="whitespace",
            output_mode="int",
            output_sequence_length=self.sequence_length,
            name=name,
        )

    def config(self) -> dict:
        """What `tokenizer.json` holds: the rules, for people and programs."""
        lower = "lower" in self.standardize
        strip = "strip" in self.standardize
        return {
            "format": _FORMAT,
            "vocabulary_file": VOCAB_FILE,
            "vocabulary_file_format": (
                "UTF-8, one token per line, lines separated by '\\n' only; line "
                "i (from 0) is the token of id i; line 0 is empty (padding)"
            ),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "output_dtype": "int32",
            "steps": [
                step
                for step in (
                    "lowercase (ASCII A-Z -> a-z only)" if lower else None,
                    "strip: delete every character matched by strip_regex"
                    if strip
                    else None,
                    "split on runs of split_characters; no empty tokens",
                    "look up each token (exact match, no Unicode normalization): "
                    "its line number in the vocabulary file, else oov_id",
                    "truncate: keep the first sequence_length ids",
                    "pad with pad_id after the ids to sequence_length",
                )
                if step is not None
            ],
            "lowercase": "ascii" if lower else None,
            "strip_regex": STRIP_PUNCTUATION_REGEX if strip else None,
            "strip_characters": _STRIPPED_CHARACTERS if strip else None,
            "split_characters": _WHITESPACE,
            "pad_id": PAD_ID,
            "pad_token": PAD_TOKEN,
            "oov_id": OOV_ID,
            "oov_token": OOV_TOKEN,
            "truncation": "end",
            "padding": "end",
            "keras": {
                "layer": "TextVectorization",
                "standardize": self.standardize,
                "split": "whitespace",
                "output_mode": "int",
                "output_sequence_length": self.sequence_length,
            },
        }

    def write(self, folder: str | os.PathLike) -> Path:
        """Writes `vocab.txt` and `tokenizer.json` into `folder`, atomically.

        Ship both with the `.tflite` model: the app reads the vocabulary and
        applies the rules in `tokenizer.json` (see `config()`).

        Args:
            folder: str or path-like, created if missing.

        Returns:
            The folder, as an absolute `Path`.

        Raises:
            TypeError: if `folder` is not a path.
            ValueError: if `folder` is an existing file.
        """
        folder = resolve_output_path(folder, argname="folder")
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"`folder` {str(folder)!r} is a file; pass a folder to write "
                f"{VOCAB_FILE} and {CONFIG_FILE} into."
            )
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / VOCAB_FILE, "\n".join(self.vocabulary) + "\n")
        write_text_atomic(
            folder / CONFIG_FILE,
            json.dumps(self.config(), indent=2, ensure_ascii=True) + "\n",
        )
        return folder

    @classmethod
    def read(cls, folder: str | os.PathLike) -> TextTokenizer:
        """The tokenizer `write(folder)` saved.

        Args:
            folder: str or path-like, holding `vocab.txt` and `tokenizer.json`.

        Returns:
            A `TextTokenizer` equal to the one written.

        Raises:
            FileNotFoundError: if a file is missing.
            ValueError: if the files are not a keras_distill tokenizer or
                disagree.
        """
        folder = Path(folder)
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        vocab_text = (folder / VOCAB_FILE).read_text(encoding="utf-8")
        vocabulary = tuple(vocab_text.split("\n")[:-1])
        if (
            config.get("format") != _FORMAT
            or len(vocabulary) != config["vocabulary_size"]
        ):
            raise ValueError(
                f"{str(folder)!r} does not hold a {_FORMAT} tokenizer whose "
                f"{VOCAB_FILE} has `vocabulary_size` lines; write it again with "
                "TextTokenizer.write."
            )
        return cls(
            vocabulary, config["sequence_length"], config["keras"]["standardize"]
        )
