"""Text folders and TextTokenizer: rules an app can re-implement, leak-free splits."""

import json
import re
import warnings

import numpy as np
import pytest
import tensorflow as tf

from keras_distill._compat import keras
from keras_distill.data import TextTokenizer
from keras_distill.data import load_text_folder
from keras_distill.data.text_tokenizer import STANDARDIZE_OPTIONS

# Punctuation, capitals (ASCII and not), Unicode letters, punctuation and spaces
# that TextVectorization does not treat as such, runs of every ASCII whitespace,
# empty and blank texts, and texts longer than the sequence length.
TRICKY = [
    "The cat, the DOG!",
    "",
    "   \t\n ",
    "ÉCOLE École école ΣΊΣΥΦΟΣ",
    "It's a naïve café-au-lait; (really) [sic] {ok} <b>bold</b>",
    "a\u00a0b c\u2003d e\x1cf \u3000 g",
    "tab\there\vvertical\fform\rreturn\nnewline  double  space",
    "hello—world it’s “quoted” ‹fr›",
    "don't won't can't #hash @at $5.00 100% a+b=c ~tilde^ _under_ back\\slash |pipe|",
    "cat " * 20,
    "日本語 テキスト 😀 emoji😀 ",
]
SEQUENCE_LENGTH = 8


def _vocabulary(texts, standardize):
    """Padding, [UNK], then every other token of `texts` (the rest stay unknown)."""
    rules = TextTokenizer(("", "[UNK]", "x"), 1, standardize)
    tokens = sorted({t for text in texts for t in rules.tokens(text)} - {"[UNK]"})
    return ("", "[UNK]", *tokens[::2])


def _layer_ids(tokenizer, texts):
    return tokenizer.layer()(tf.constant(texts)).numpy()


@pytest.mark.parametrize("standardize", STANDARDIZE_OPTIONS)
def test_encode_equals_text_vectorization_on_tricky_text(standardize):
    tokenizer = TextTokenizer(
        _vocabulary(TRICKY, standardize), SEQUENCE_LENGTH, standardize
    )
    expected = _layer_ids(tokenizer, TRICKY)
    got = tokenizer.encode(TRICKY)
    assert got.dtype == np.int32 and got.shape == (len(TRICKY), SEQUENCE_LENGTH)
    np.testing.assert_array_equal(got, expected)
    # Both known and unknown tokens occur, so the lookup itself was compared.
    assert (got >= 2).sum() > 20 and (got == 1).sum() > 20


def test_encode_follows_the_documented_rules():
    vocabulary = ("", "[UNK]", "the", "cat", "École", "its", "a\u00a0b", "hello—world")
    tokenizer = TextTokenizer(vocabulary, 4)
    texts = [
        "The cat, the DOG!",
        "ÉCOLE",
        "It's a\u00a0b",
        "hello—world",
        "",
        "cat " * 9,
    ]
    ids = tokenizer.encode(texts)
    np.testing.assert_array_equal(
        ids,
        [
            [2, 3, 2, 1],  # lower-cased, comma and "!" stripped, "dog" unknown
            [4, 0, 0, 0],  # only ASCII is lower-cased: É stays
            [5, 6, 0, 0],  # the apostrophe goes; a no-break space does not split
            [7, 0, 0, 0],  # an em dash is not ASCII punctuation
            [0, 0, 0, 0],  # empty text: all padding
            [3, 3, 3, 3],  # truncated to the first sequence_length tokens
        ],
    )
    np.testing.assert_array_equal(ids, _layer_ids(tokenizer, texts))


def test_layer_runs_in_tf_data_and_gives_the_same_ids():
    tokenizer = TextTokenizer(_vocabulary(TRICKY, STANDARDIZE_OPTIONS[0]), 5)
    dataset = tf.data.Dataset.from_tensor_slices(TRICKY).batch(4).map(tokenizer.layer())
    ids = np.concatenate(list(dataset.as_numpy_iterator()))
    np.testing.assert_array_equal(ids, tokenizer.encode(TRICKY))


def _app_encode(folder, texts):
    """An independent re-implementation from the two files only, as an app would."""
    config = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    lines = (folder / config["vocabulary_file"]).read_bytes().decode().split("\n")
    ids = {token: i for i, token in enumerate(lines[: config["vocabulary_size"]])}
    out = []
    for text in texts:
        if config["lowercase"] == "ascii":
            text = "".join(c.lower() if "A" <= c <= "Z" else c for c in text)
        if config["strip_regex"]:
            text = re.sub(config["strip_regex"], "", text)
        separators = set(config["split_characters"])
        tokens, current = [], ""
        for char in text + config["split_characters"][0]:
            if char in separators:
                if current:
                    tokens.append(current)
                current = ""
            else:
                current += char
        row = [ids.get(t, config["oov_id"]) for t in tokens]
        row = row[: config["sequence_length"]]
        out.append(row + [config["pad_id"]] * (config["sequence_length"] - len(row)))
    return np.array(out)


def test_write_files_let_an_app_reproduce_the_ids(tmp_path):
    tokenizer = TextTokenizer(_vocabulary(TRICKY, STANDARDIZE_OPTIONS[0]), 6)
    folder = tokenizer.write(tmp_path / "assets" / "text")
    vocab_lines = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab_lines[:-1] == list(tokenizer.vocabulary) and vocab_lines[-1] == ""
    assert vocab_lines[0] == "" and vocab_lines[1] == "[UNK]"
    config = json.loads((folder / "tokenizer.json").read_text())
    assert config["strip_regex"] == r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
    assert config["strip_characters"] == "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    assert config["split_characters"] == " \t\n\x0b\x0c\r"
    assert (config["pad_id"], config["oov_id"], config["sequence_length"]) == (0, 1, 6)
    assert config["truncation"] == "end" and config["lowercase"] == "ascii"
    np.testing.assert_array_equal(
        _app_encode(folder, TRICKY), _layer_ids(tokenizer, TRICKY)
    )
    assert TextTokenizer.read(folder) == tokenizer
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


# One test for all cases: each test pays ~1 s of Keras session set-up.
TOKENIZER_CASES = [
    (dict(vocabulary=("the", "cat")), ValueError, "must start with ''"),
    (dict(vocabulary=("", "[UNK]")), ValueError, "at least one token"),
    (dict(vocabulary=("", "[UNK]", "a", "a")), ValueError, "'a' is repeated"),
    (dict(vocabulary=("", "[UNK]", "a b")), ValueError, "holds whitespace"),
    (dict(vocabulary=("", "[UNK]", "Cat")), ValueError, "changed by standardize"),
    (dict(vocabulary=("", "[UNK]", "it's")), ValueError, "to 'its'"),
    (dict(vocabulary="abc"), TypeError, "tuple of str"),
    (dict(sequence_length=0), ValueError, "sequence_length"),
    (dict(sequence_length=2.0), TypeError, "sequence_length"),
    (dict(standardize="lower_and_strip"), ValueError, "standardize"),
]


def test_tokenizer_rejects_bad_arguments():
    for kwargs, error, match in TOKENIZER_CASES:
        arguments = {"vocabulary": ("", "[UNK]", "a"), "sequence_length": 4, **kwargs}
        with pytest.raises(error, match=re.escape(match)):
            TextTokenizer(**arguments)


def test_encode_rejects_a_single_string():
    tokenizer = TextTokenizer(("", "[UNK]", "a"), 4)
    with pytest.raises(TypeError, match=re.escape("pass [text]")):
        tokenizer.encode("a text")
    with pytest.raises(TypeError, match="decode bytes"):
        tokenizer.encode([b"a text"])


CLASSES = ("ham", "spam")
PER_CLASS = 10
WORDS = {"ham": "meeting lunch tomorrow report", "spam": "win prize money free"}


@pytest.fixture
def folder(tmp_path):
    """Each file: a marker word found in no other file, then its class's words."""
    root = tmp_path / "mail"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for index in range(PER_CLASS):
            text = f"Marker{name}{index} {WORDS[name]}, {WORDS[name].upper()}!"
            (root / name / f"{index}.txt").write_text(text, encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / "ham" / ".DS_Store").write_bytes(b"\0\1binary")
    return root


def test_load_text_folder_yields_int32_ids_labels_and_arrays(folder):
    data = load_text_folder(folder, batch_size=4, sequence_length=6)
    assert data.class_names == CLASSES and data.modality == "text"
    assert data.input_shape == (6,) and data.tokenizer.sequence_length == 6
    assert data.num_examples == {"train": 16, "test": 4}
    x, y = next(iter(data.train))
    assert (x.dtype, y.dtype, tuple(x.shape)) == (tf.int32, tf.int32, (4, 6))
    assert data.x_train.dtype == np.int32 and data.y_train.dtype == np.int32
    batches = list(data.test.as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), data.x_test)
    # Each row is its file's text through the reference rules, labelled by folder.
    texts = {
        (name, index): (folder / name / f"{index}.txt").read_text()
        for name in CLASSES
        for index in range(PER_CLASS)
    }
    rows = {
        tuple(r): key for key, r in zip(texts, data.tokenizer.encode(texts.values()))
    }
    for x_split, y_split in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        for row, label in zip(x_split, y_split, strict=True):
            assert CLASSES[label] == rows[tuple(row)][0]


def test_vocabulary_comes_from_training_files_only(folder):
    data = load_text_folder(folder, sequence_length=6)
    vocabulary = data.tokenizer.vocabulary
    # The marker of every test file is unknown (id 1); of every training file, known.
    assert (data.x_test[:, 0] == 1).all()
    assert (data.x_train[:, 0] >= 2).all()
    markers = {t for t in vocabulary if t.startswith("marker")}
    assert len(markers) == data.num_examples["train"]
    # Counted tokens first, ties in code point order.
    assert vocabulary[2:10] == tuple(
        sorted(WORDS["ham"].split() + WORDS["spam"].split())
    )
    assert "4 of 36 test tokens (11.1%) are out of vocabulary" in data.description


def test_max_tokens_keeps_the_most_frequent(tmp_path):
    for name, text in (("a", "x x x y y z"), ("b", "x y w")):
        (tmp_path / name).mkdir()
        for index in range(3):
            (tmp_path / name / f"{index}.txt").write_text(text)
    data = load_text_folder(tmp_path, max_tokens=4, test_fraction=0.3)
    assert data.tokenizer.vocabulary == ("", "[UNK]", "x", "y")


def test_split_is_seeded_and_validation_is_held_out(folder):
    first = load_text_folder(folder, seed=1, validation_fraction=0.2)
    again = load_text_folder(folder, seed=1, validation_fraction=0.2)
    other = load_text_folder(folder, seed=2, validation_fraction=0.2)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert first.num_examples == {"train": 12, "test": 4, "validation": 4}
    assert sorted(first.y_val.tolist()) == [0, 0, 1, 1]
    assert first.tokenizer.vocabulary != other.tokenizer.vocabulary
    assert (first.x_val[:, 0] == 1).all()


def test_bad_files_are_skipped_with_one_warning(folder):
    (folder / "ham" / "binary.txt").write_bytes(b"PK\x03\x04\0\0zip")
    (folder / "spam" / "latin1.txt").write_bytes("café".encode("latin-1"))
    (folder / "spam" / "notes.md").write_text("not a txt")
    (folder / "spam" / "bom.txt").write_bytes("\ufeffFree".encode())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_text_folder(folder)
    ours = [w for w in caught if "Skipped" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    messages = [str(ours[0].message)]
    assert "Skipped 3 file(s) (ham/binary.txt: binary" in messages[0]
    assert "spam/latin1.txt: not UTF-8 text" in messages[0]
    assert "spam/notes.md: not a .txt file" in messages[0]
    assert ours[0].filename == __file__ and ours[0].category is UserWarning
    assert "Skipped 3 file(s)" in data.description
    assert sum(data.num_examples.values()) == 2 * PER_CLASS + 1
    # The byte-order mark is not part of the first token.
    assert "\ufefffree" not in data.tokenizer.vocabulary


def test_ids_train_an_embedding_model(folder):
    data = load_text_folder(folder, batch_size=8, sequence_length=6)
    inputs = keras.Input(data.input_shape, dtype="int32")
    x = data.preprocessing_layer()(inputs)
    x = keras.layers.Embedding(data.tokenizer.vocabulary_size, 4)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(data.num_classes)(x))
    model.compile(
        keras.optimizers.Adam(0.1),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(data.train, epochs=5, verbose=0, shuffle=False)
    # Class words are in every file: learnable even with unknown markers.
    assert model.evaluate(data.test, verbose=0)[1] == 1.0


LOADER_CASES = [
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(max_tokens=2), ValueError, "max_tokens"),
    (dict(max_tokens="10"), TypeError, "max_tokens"),
    (dict(sequence_length=0), ValueError, "sequence_length"),
    (dict(test_fraction=0.0), ValueError, "test_fraction"),
    (dict(test_fraction=0.6, validation_fraction=0.4), ValueError, "below 1"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(shuffle_buffer=0), ValueError, "shuffle_buffer"),
    (dict(test_fraction=0.95), ValueError, "too few to hold out"),
]


def test_load_text_folder_rejects_bad_arguments(folder):
    for kwargs, error, match in LOADER_CASES:
        with pytest.raises(error, match=match):
            load_text_folder(folder, **kwargs)


def test_load_text_folder_rejects_bad_folders(tmp_path):
    with pytest.raises(TypeError, match="path to a folder"):
        load_text_folder(3)
    with pytest.raises(ValueError, match="does not exist"):
        load_text_folder(tmp_path / "missing")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "1.txt").write_text("text")
    with pytest.raises(ValueError, match="at least 2"):
        load_text_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "1.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match=r"\['empty'\] .* hold no readable text"):
        load_text_folder(tmp_path)


def test_load_text_folder_rejects_texts_without_tokens(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(3):
            (tmp_path / name / f"{index}.txt").write_text("... !!! --")
    with pytest.raises(ValueError, match="hold no token"):
        load_text_folder(tmp_path)
