"""Text-classification teacher and students that read int32 token ids.

Text examples are int32 token ids `(sequence_length,)` from the dataset's
tokenizer (`DataBundle.tokenizer`: id 0 pads, id 1 is out of vocabulary, the
vocabulary size is `len(tokenizer.vocabulary)`). Every model takes those ids
(`keras.Input(..., dtype="int32")`), so the exported `.tflite` file takes int32
ids `[1, sequence_length]` and the app only has to tokenize. Padding is not
masked: the pad embedding is learned like any other token, which keeps the
graph free of masks the converter would have to carry.

Models (each ends in a layer named "features" and a `Dense` named "logits"):
- teacher: a Transformer encoder (Vaswani et al. 2017) of width
  `TEACHER_WIDTH`: token `Embedding`, then one `EinsumDense` ("position_embedding")
  that projects each token and adds a learned vector per position (its bias has
  one row per position, the trick of `sequence_students`' patch embedding, so
  both compression engines need nothing custom), `TEACHER_BLOCKS` pre-LN encoder
  blocks (`sequence_students.encoder_blocks`), a final LayerNormalization and
  mean pooling over the positions;
- `"transformer"` (the default student): the same at width `STUDENT_WIDTH`
  with `STUDENT_BLOCKS` block;
- `"cnn1d"`: token `Embedding`, one `Conv1D` of `CNN_FILTERS` filters of width
  `CNN_KERNEL` with ReLU and global max pooling over the positions (the
  convolutional sentence classifier of Kim 2014, one filter width).
"""

from keras_distill._compat import keras
from keras_distill.demo.sequence_students import encoder_blocks

TEXT_PRESETS = ("transformer", "cnn1d")

TEACHER_WIDTH = 64
TEACHER_HEADS = 4
TEACHER_FFN_UNITS = 128
TEACHER_BLOCKS = 3
STUDENT_WIDTH = 32
STUDENT_HEADS = 2
STUDENT_FFN_UNITS = 64
STUDENT_BLOCKS = 1
CNN_EMBEDDING = 32
CNN_FILTERS = 64
CNN_KERNEL = 5


def vocabulary_size(data) -> int:
    """The number of token ids of a text DataBundle (`len(tokenizer.vocabulary)`).

    Raises:
        ValueError: if `data` is not text, its examples are not
            `(sequence_length,)`, or its tokenizer has no vocabulary of at
            least 2 entries (padding and out-of-vocabulary).
    """
    if data.modality != "text":
        raise ValueError(
            "Text presets read token ids (a DataBundle with a `tokenizer`); these "
            f"examples are {data.modality} of shape {tuple(data.input_shape)}."
        )
    if len(tuple(data.input_shape)) != 1:
        raise ValueError(
            "Text presets read token ids of shape (sequence_length,); these "
            f"examples have shape {tuple(data.input_shape)}."
        )
    vocabulary = getattr(data.tokenizer, "vocabulary", None)
    if vocabulary is None or len(vocabulary) < 2:
        raise ValueError(
            f"The tokenizer of dataset {data.name!r} has no vocabulary of at "
            "least 2 entries (id 0 pads, id 1 is out of vocabulary), got "
            f"{vocabulary!r:.80}. Build the tokenizer on the training texts."
        )
    return len(vocabulary)


def _token_input(data):
    size = vocabulary_size(data)
    inputs = keras.Input(shape=tuple(data.input_shape), dtype="int32", name="input")
    return inputs, data.preprocessing_layer(name="normalization")(inputs), size


def _encoder(x, *, length, vocabulary, width, heads, ffn_units, blocks):
    x = keras.layers.Embedding(vocabulary, width, name="token_embedding")(x)
    # Kernel "de": one projection for every token; bias "te": one vector per
    # position, i.e. a learned positional embedding.
    x = keras.layers.EinsumDense(
        "btd,de->bte",
        output_shape=(length, width),
        bias_axes="te",
        name="position_embedding",
    )(x)
    x = encoder_blocks(x, blocks=blocks, width=width, heads=heads, ffn_units=ffn_units)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    return keras.layers.GlobalAveragePooling1D(name="features")(x)


def text_teacher(data) -> "keras.Model":
    """The text teacher: a Transformer encoder of `TEACHER_BLOCKS` blocks.

    Args:
        data: `keras_distill.data.DataBundle` of token ids (`tokenizer` set).

    Returns:
        An uncompiled Functional model named "teacher" that outputs logits.

    Raises:
        ValueError: data that are not token ids, or a tokenizer without a
            vocabulary.
    """
    inputs, x, size = _token_input(data)
    x = _encoder(
        x,
        length=data.input_shape[0],
        vocabulary=size,
        width=TEACHER_WIDTH,
        heads=TEACHER_HEADS,
        ffn_units=TEACHER_FFN_UNITS,
        blocks=TEACHER_BLOCKS,
    )
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="teacher")


def text_student(name: str, data) -> "keras.Model":
    """A text student on token ids: `"transformer"` or `"cnn1d"`.

    Args:
        name: str, `"transformer"` (one pre-LN encoder block of width 32) or
            `"cnn1d"` (Embedding, Conv1D, global max pooling).
        data: `keras_distill.data.DataBundle` of token ids (`tokenizer` set).

    Returns:
        An uncompiled Functional model named "student" that outputs logits.

    Raises:
        ValueError: a name not in `TEXT_PRESETS` (the message names those that
            are), data that are not token ids, or a tokenizer without a
            vocabulary.

    Example:
    ```python
    import dataclasses

    import numpy as np

    from keras_distill.data import InputNormalization
    from keras_distill.data import TextTokenizer
    from keras_distill.data.pipeline import bundle_from_arrays

    tokenizer = TextTokenizer(("", "[UNK]", "good", "bad"), sequence_length=8)
    ids = tokenizer.encode(["good good", "bad", "good bad", "bad bad"])
    labels = np.array([0, 1, 0, 1])
    data = bundle_from_arrays(
        "reviews", x_train=ids, y_train=labels, x_test=ids, y_test=labels,
        class_names=("pos", "neg"),
        normalization_for=lambda _: InputNormalization.rescale(1.0),
        batch_size=2, seed=0, validation_fraction=0.0, description="",
    )
    data = dataclasses.replace(data, tokenizer=tokenizer)
    student = text_student("cnn1d", data)
    assert student.predict(ids, verbose=0).shape == (4, 2)
    ```
    """
    if name not in TEXT_PRESETS:
        raise ValueError(
            f"Student preset {name!r} does not read text; for token ids choose "
            f"one of {TEXT_PRESETS}, or pass a .keras file."
        )
    inputs, x, size = _token_input(data)
    if name == "transformer":
        x = _encoder(
            x,
            length=data.input_shape[0],
            vocabulary=size,
            width=STUDENT_WIDTH,
            heads=STUDENT_HEADS,
            ffn_units=STUDENT_FFN_UNITS,
            blocks=STUDENT_BLOCKS,
        )
    else:
        x = keras.layers.Embedding(size, CNN_EMBEDDING, name="token_embedding")(x)
        x = keras.layers.Conv1D(
            CNN_FILTERS, CNN_KERNEL, padding="same", activation="relu", name="conv"
        )(x)
        x = keras.layers.GlobalMaxPooling1D(name="features")(x)
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="student")
