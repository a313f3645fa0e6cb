"""Sequence students for 1-D signals: a 1-D CNN, GRU, LSTM and a Transformer encoder.

MNIST-1D examples are 40 values; these students read them as a sequence of 40
steps of one feature. The `(40,)` to `(40, 1)` reshape is a layer of the
student ("as_sequence"), after the dataset's own normalization, so the
exported `.tflite` file still takes the raw 40 values the app has.

The sizes keep them comparable to the demo's MLP student (15,210 parameters
on MNIST-1D): three stride-2 `Conv1D` layers of 32 channels ("cnn1d",
12,106), GRU of 64 units (13,514), LSTM of 56 units (13,562), and a
Transformer encoder of width 32 (two blocks, 17,930). Each ends in a layer
named "features" (the flattened feature map, the last hidden state, or the
mean over tokens) and a `Dense` named "logits".

The Transformer embeds non-overlapping patches of `PATCH` values with one
`EinsumDense` whose kernel is shared by every patch (a linear patch
projection, as in ViT, Dosovitskiy et al. 2021) and whose bias has one vector
per patch: that bias is the learned positional embedding, added to each
token. It is a built-in Keras layer, so both compression engines and the
saved `.keras` file need nothing custom. Then pre-LayerNormalization encoder
blocks (multi-head self-attention, then a GELU feed-forward network, each
with a residual connection; Xiong et al. 2020), a final LayerNormalization
and global average pooling over the tokens.
"""

from keras_distill._compat import keras

SEQUENCE_PRESETS = ("cnn1d", "gru", "lstm", "transformer")

CNN_CHANNELS = 32
GRU_UNITS = 64
LSTM_UNITS = 56
PATCH = 4
WIDTH = 32
HEADS = 2
FFN_UNITS = 64
BLOCKS = 2


def sequence_student(name: str, data, inputs, x) -> "keras.Model":
    """A 1-D CNN, GRU, LSTM or Transformer student on vectors read as sequences.

    Args:
        name: str, `"cnn1d"`, `"gru"`, `"lstm"` or `"transformer"`.
        data: `keras_distill.data.DataBundle` of vectors `(steps,)`; for
            `"transformer"`, `steps` must be a multiple of `PATCH`.
        inputs: the student's `keras.Input`.
        x: the normalized inputs (the output of the dataset's normalization
            layer).

    Returns:
        An uncompiled Functional model named "student" that outputs logits.

    Raises:
        ValueError: an unknown name, examples that are not vectors, or (for
            `"transformer"`) a length that is not a multiple of `PATCH`.

    Example:
    ```python
    from keras_distill.data import load_dataset
    from keras_distill.demo import presets

    student = presets.student_preset("gru", load_dataset("mnist1d"))
    ```
    """
    if name not in SEQUENCE_PRESETS:
        raise ValueError(
            f"Unknown sequence student {name!r}: choose one of {SEQUENCE_PRESETS}."
        )
    input_shape = tuple(data.input_shape)
    if len(input_shape) != 1:
        raise ValueError(
            f"Student preset {name!r} reads vectors (steps,) as sequences; these "
            f"examples have shape {input_shape}. For images use 'cnn-tiny' or a "
            "MobileNet preset."
        )
    steps = input_shape[0]
    x = keras.layers.Reshape((steps, 1), name="as_sequence")(x)
    if name == "cnn1d":
        for i, kernel in enumerate((5, 5, 5), start=1):
            x = keras.layers.Conv1D(
                CNN_CHANNELS,
                kernel,
                strides=2,
                padding="same",
                activation="relu",
                name=f"conv{i}",
            )(x)
        x = keras.layers.Flatten(name="features")(x)
    elif name == "gru":
        x = keras.layers.GRU(GRU_UNITS, name="gru")(x)
        x = keras.layers.Identity(name="features")(x)
    elif name == "lstm":
        x = keras.layers.LSTM(LSTM_UNITS, name="lstm")(x)
        x = keras.layers.Identity(name="features")(x)
    else:
        x = _transformer_body(x, steps)
    outputs = keras.layers.Dense(data.num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="student")


def _transformer_body(x, steps: int):
    """Patch + position embedding, `BLOCKS` pre-LN encoder blocks, mean pooling."""
    if steps % PATCH:
        raise ValueError(
            f"Student preset 'transformer' cuts the {steps} steps into patches "
            f"of {PATCH}; the length must be a multiple of {PATCH}. Use 'gru' or "
            "'lstm'."
        )
    tokens = steps // PATCH
    x = keras.layers.Reshape((tokens, PATCH), name="patches")(x)
    # Kernel "pd": one projection for every patch; bias "td": one vector per
    # patch position, i.e. a learned positional embedding.
    x = keras.layers.EinsumDense(
        "btp,pd->btd",
        output_shape=(tokens, WIDTH),
        bias_axes="td",
        name="patch_embedding",
    )(x)
    x = encoder_blocks(x, blocks=BLOCKS, width=WIDTH, heads=HEADS, ffn_units=FFN_UNITS)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    return keras.layers.GlobalAveragePooling1D(name="features")(x)


def encoder_blocks(x, *, blocks: int, width: int, heads: int, ffn_units: int):
    """Pre-LayerNormalization Transformer encoder blocks (Xiong et al. 2020).

    Each block is `x + MHA(LN(x))`, then `x + FFN(LN(x))` with a GELU
    feed-forward network of `ffn_units`; layers are named `block<i>_...`.
    Built-in Keras layers only, so both compression engines and the saved
    `.keras` file need nothing custom.

    Args:
        x: tensor `(batch, tokens, width)`.
        blocks: int, how many blocks.
        width: int, the model width (the last axis of `x`).
        heads: int, attention heads; `width` must be a multiple of it.
        ffn_units: int, the hidden units of the feed-forward network.

    Returns:
        The tensor after the last block, of the same shape as `x`.
    """
    for block in range(1, blocks + 1):
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{block}_ln1")(x)
        h = keras.layers.MultiHeadAttention(
            heads, width // heads, name=f"block{block}_attention"
        )(h, h)
        x = keras.layers.Add(name=f"block{block}_res1")([x, h])
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{block}_ln2")(x)
        h = keras.layers.Dense(ffn_units, activation="gelu", name=f"block{block}_ffn1")(
            h
        )
        h = keras.layers.Dense(width, name=f"block{block}_ffn2")(h)
        x = keras.layers.Add(name=f"block{block}_res2")([x, h])
    return x
