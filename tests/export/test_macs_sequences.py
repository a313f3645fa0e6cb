"""count_macs on recurrent, EinsumDense and attention layers, counted by hand.

Each expected count is written from the layer's configuration (time steps x
the multiply-adds of one step; heads x positions x head sizes), not from
kernel shapes as the implementation does, so the two can disagree.
"""

import pytest
from conftest import keras3_only

from keras_distill._compat import keras
from keras_distill.export import count_macs
from keras_distill.export import macs_by_layer
from keras_distill.export.convert import convert_tflite
from keras_distill.export.macs import count_tflite_macs

STEPS, FEATURES, UNITS = 6, 3, 4


def single_layer_macs(input_shape, layer) -> int:
    inputs = keras.Input(input_shape)
    return count_macs(keras.Model(inputs, layer(inputs)))


def step(gates: int) -> int:
    """One step: `gates` matrices of (features -> units) and (units -> units)."""
    return gates * (FEATURES * UNITS + UNITS * UNITS)


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (lambda: keras.layers.SimpleRNN(UNITS), STEPS * step(1)),
        (lambda: keras.layers.GRU(UNITS), STEPS * step(3)),
        (lambda: keras.layers.GRU(UNITS, reset_after=False), STEPS * step(3)),
        (lambda: keras.layers.LSTM(UNITS), STEPS * step(4)),
        (lambda: keras.layers.LSTM(UNITS, return_sequences=True), STEPS * step(4)),
        (
            lambda: keras.layers.Bidirectional(keras.layers.LSTM(UNITS)),
            2 * STEPS * step(4),
        ),
        (
            lambda: keras.layers.Bidirectional(
                keras.layers.GRU(UNITS),
                backward_layer=keras.layers.SimpleRNN(UNITS, go_backwards=True),
            ),
            STEPS * step(3) + STEPS * step(1),
        ),
    ],
)
def test_recurrent_layer_counts_both_matrix_products_of_every_step(layer, expected):
    assert single_layer_macs((STEPS, FEATURES), layer()) == expected


def test_einsum_dense_counts_every_index_but_the_batch():
    # Patch embedding: 10 tokens x (4 values -> 32 features).
    layer = keras.layers.EinsumDense(
        "btp,pd->btd", output_shape=(10, 32), bias_axes="td"
    )
    assert single_layer_macs((10, 4), layer) == 10 * 4 * 32
    # Ellipsis: 3 x 5 positions x (2 -> 4).
    layer = keras.layers.EinsumDense("...b,bc->...c", output_shape=(4,))
    assert single_layer_macs((3, 5, 2), layer) == 3 * 5 * 2 * 4


def attention_hand_count(heads, key_dim, value_dim, query, value) -> int:
    """Projections, then Q K^T and the weighted sum of V, per head."""
    (tq, dq), (tv, dv) = query, value
    projections = (
        tq * dq * heads * key_dim  # query
        + tv * dv * heads * key_dim  # key (the value is the key)
        + tv * dv * heads * value_dim  # value
        + tq * heads * value_dim * dq  # output, back to the query's width
    )
    return projections + heads * tq * tv * key_dim + heads * tq * tv * value_dim


def test_cross_attention_counts_projections_scores_and_weighted_sum():
    query, value = keras.Input((6, 8)), keras.Input((5, 7))
    attention = keras.layers.MultiHeadAttention(2, 4, value_dim=3)
    model = keras.Model([query, value], attention(query, value))
    assert count_macs(model) == attention_hand_count(2, 4, 3, (6, 8), (5, 7))
    assert [row.counted for row in macs_by_layer(model)] == [True, True, True]


def test_self_attention_value_given_by_keyword_counts_the_same():
    tokens = keras.Input((10, 32))
    attention = keras.layers.MultiHeadAttention(2, 16)
    model = keras.Model(tokens, attention(tokens, value=tokens))
    assert count_macs(model) == attention_hand_count(2, 16, 16, (10, 32), (10, 32))


def test_free_number_of_steps_raises_with_the_fix():
    model = keras.Sequential([keras.Input((None, FEATURES)), keras.layers.GRU(2)])
    with pytest.raises(ValueError, match="free number of time steps.*fixed input"):
        count_macs(model)


def test_unrolled_gru_file_has_the_keras_models_macs():
    """The converter unrolls it: one FULLY_CONNECTED per product and step."""
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.GRU(UNITS),
            keras.layers.Dense(2),
        ]
    )
    expected = STEPS * step(3) + UNITS * 2
    assert count_macs(model) == expected
    assert count_tflite_macs(convert_tflite(model)) == expected


def test_tflite_count_reads_shapes_after_a_computed_reshape():
    """A Dense on tokens of an attention output converts behind a RESHAPE whose
    output shape LiteRT only knows once the file has run."""
    tokens = keras.Input((10, 8))
    x = keras.layers.MultiHeadAttention(2, 4)(tokens, tokens)
    model = keras.Model(tokens, keras.layers.Dense(6)(x))
    content = convert_tflite(model)
    attention_products = 2 * 10 * 10 * 4 * 2  # BATCH_MATMUL, not counted there
    assert count_tflite_macs(content) == count_macs(model) - attention_products


@keras3_only
def test_quantization_aware_sequence_layers_have_the_plain_models_macs():
    from keras_distill.compress import quantize

    tokens = keras.Input((STEPS, FEATURES))
    x = keras.layers.EinsumDense("btf,fd->btd", output_shape=(STEPS, 8))(tokens)
    x = keras.layers.MultiHeadAttention(2, 4)(x, x)
    x = keras.layers.GRU(UNITS)(x)
    model = keras.Model(tokens, keras.layers.Dense(2)(x))
    qat = quantize(model)
    assert count_macs(qat) == count_macs(model)
    assert all(row.counted for row in macs_by_layer(qat))
