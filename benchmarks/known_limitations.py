"""The two QAT limitations of docs/sequences.md, on students of a user's own.

1. `masked-lstm`: `Embedding(mask_zero=True)` -> `LSTM(16)`.
2. `keras-io-transformer`: keras.io's text-classification Transformer as
   written there (`TokenAndPositionEmbedding` and `TransformerBlock` are
   `keras.layers.Layer` subclasses), width 16.

Each is distilled one epoch from a wider twin on 512 random sequences of 20
token ids (the label is the first id's parity), exported in float32, dynamic
and post-training int8 and verified in LiteRT on 64 of them, then prepared for
QAT with `compress.quantize` and, where that works, exported to int8 without
and with `representative_data` (optional for a QAT model). Prints
one line per step: what worked, or the error's first 300 characters.

    python3 benchmarks/known_limitations.py
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import keras_distill  # noqa: E402
from keras_distill import compress  # noqa: E402
from keras_distill import export  # noqa: E402
from keras_distill import keras  # noqa: E402

layers = keras.layers
LENGTH, VOCABULARY = 20, 200
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class TransformerBlock(layers.Layer):
    """keras.io's (examples/nlp/text_classification_with_transformer)."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=False):
        attention = self.dropout1(self.att(inputs, inputs), training=training)
        out1 = self.layernorm1(inputs + attention)
        ffn = self.dropout2(self.ffn(out1), training=training)
        return self.layernorm2(out1 + ffn)


class TokenAndPositionEmbedding(layers.Layer):
    """keras.io's (examples/nlp/text_classification_with_transformer)."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = keras.ops.shape(x)[-1]
        positions = self.pos_emb(keras.ops.arange(0, maxlen, 1))
        return self.token_emb(x) + positions


def masked_lstm(width):
    inputs = keras.Input((LENGTH,), dtype="int32")
    x = layers.Embedding(VOCABULARY, width, mask_zero=True)(inputs)
    x = layers.LSTM(width)(x)
    return keras.Model(inputs, layers.Dense(2)(x))


def keras_io_transformer(width):
    inputs = keras.Input((LENGTH,), dtype="int32")
    x = TokenAndPositionEmbedding(LENGTH, VOCABULARY, width)(inputs)
    x = TransformerBlock(width, 2, 2 * width)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))


def try_export(model, folder, quantization, x, y, calibrate=True):
    path = os.path.join(folder, f"{quantization}.tflite")
    calibrate = calibrate and quantization == "int8"  # a QAT model has its ranges
    options = {"representative_data": x[:200]} if calibrate else {}
    try:
        report = export.export_and_verify(
            model, path, quantization, x_eval=x[:64], y_eval=y[:64],
            latency_runs=5, **options,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 (print what a user would see)
        return f"FAILED: {type(err).__name__}: {str(err)[:300]}"
    return (
        f"ok, top-1 agreement with Keras {report.top1_agreement:.3f}, largest "
        f"logit difference {report.max_abs_logit_diff:.1e}"
    )


def main():
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCABULARY, (512, LENGTH)).astype("int32")
    x[:, 15:] = 0  # padding, which the masked LSTM skips
    y = (x[:, 0] % 2).astype("int32")
    for name, build in (
        ("masked-lstm", masked_lstm),
        ("keras-io-transformer", keras_io_transformer),
    ):
        keras.utils.set_random_seed(0)
        teacher = build(32)
        teacher.compile("adam", LOSS)
        teacher.fit(x, y, epochs=2, verbose=0)
        student = build(16)
        distiller = keras_distill.Distiller(student=student, teacher=teacher)
        distiller.compile(optimizer="adam", loss=LOSS)
        distiller.fit(x, y, epochs=1, verbose=0)
        folder = tempfile.mkdtemp(prefix=f"kd_{name}_")
        for quantization in ("float32", "dynamic", "int8"):
            print(name, quantization, try_export(student, folder, quantization, x, y))
        try:
            qat = compress.quantize(student)
        except ValueError as err:
            print(name, "quantize FAILED:", str(err)[:300])
            continue
        qat.compile("adam", LOSS)
        qat.fit(x, y, epochs=1, verbose=0)
        qat_folder = os.path.join(folder, "qat")
        print(name, "QAT int8", try_export(qat, qat_folder, "int8", x, y, False))
        calibrated = os.path.join(folder, "qat_calibrated")
        print(
            name,
            "QAT int8 + representative_data",
            try_export(qat, calibrated, "int8", x, y),
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
