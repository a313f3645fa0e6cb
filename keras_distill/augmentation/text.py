"""Augmentation for token ids: random tokens replaced by the unknown-word id.

Tang et al. (2019, "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks", arXiv:1903.12136) distil a text classifier on a transfer set
made by masking words of the training sentences: the teacher labels texts no
one labelled, which the student on labels alone never sees. `TokenMasking` is
their masking rule on the ids a `keras_distill.data.TextTokenizer` writes (id 0
pads, id 1 is out of vocabulary, there is no [MASK] token), applied inside the
Distiller's step so the teacher and the student read the same masked text
(consistent teaching, Beyer et al. 2022); a teacher can train with it too, as
word dropout (Iyyer et al. 2015).

No demo recipe uses it: on Debian's fortunes (one run, seed 0, rate 0.1, from
the development working tree with a script not in the repository) the
demo's Transformer teacher trained with it reached 59.5 % against 64.5 %
without, and the students distilled on masked texts gained 0.4 points
(Transformer) or lost 2.7 (CNN) against labels alone.
"""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill._numbers import check_int
from keras_distill._numbers import check_real


@keras.saving.register_keras_serializable(package="keras_distill")
class TokenMasking(keras.layers.Layer):
    """Replaces each token id by the unknown-word id with probability `rate`.

    Padding (`padding_id`) is never replaced, so the texts keep their lengths.
    Each position of each text gets its own draw. Active only with
    `training=True`: the Distiller calls augmentation layers that way in
    `train_step` and never in `evaluate`.

    Args:
        rate: float in [0, 1), the probability that a token is masked. Defaults
            to 0.1 (Tang et al. 2019's p_mask).
        mask_id: int >= 0, the id written in place of a masked token: the
            tokenizer's out-of-vocabulary id (1 for `TextTokenizer`). Defaults
            to 1.
        padding_id: int >= 0, the id of padding, left alone. Defaults to 0.
        **kwargs: passed to `keras.layers.Layer` (`name`, ...).

    Returns:
        Called on integer token ids `(batch, sequence_length)`: ids of the same
        shape and dtype.

    Raises:
        TypeError: if an argument is not a number; when called, for float
            inputs.
        ValueError: if `rate` is outside [0, 1) or an id is negative; when
            called, for inputs that are not `(batch, sequence_length)`.

    Example:
    ```python
    ids = np.array([[5, 9, 4, 7, 0, 0]], dtype="int32")
    masked = keras_distill.augmentation.TokenMasking(0.5)(ids, training=True)
    # e.g. [[5, 1, 4, 1, 0, 0]]: some words became [UNK], padding stayed
    ```
    """

    def __init__(
        self, rate: float = 0.1, mask_id: int = 1, padding_id: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        self.rate = check_real(
            "rate",
            rate,
            low=0.0,
            high=1.0,
            high_inclusive=False,
            hint="It is the probability that a token becomes `mask_id`, e.g. 0.1.",
        )
        self.mask_id = check_int("mask_id", mask_id, 0)
        self.padding_id = check_int("padding_id", padding_id, 0)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if not tf.is_tensor(inputs) and len(tf.nest.flatten(inputs)) != 1:
            raise ValueError(
                "TokenMasking augments one batch of token ids (batch, "
                "sequence_length); got nested inputs. Apply it to the ids only."
            )
        ids = tf.convert_to_tensor(tf.nest.flatten(inputs)[0])
        if len(ids.shape) != 2:
            raise ValueError(
                "TokenMasking augments token ids (batch, sequence_length); got "
                f"inputs of shape {tuple(ids.shape)}."
            )
        if not ids.dtype.is_integer:
            raise TypeError(
                f"TokenMasking augments integer token ids; got {ids.dtype.name} "
                "inputs. Tokenize the text first (keras_distill.data.TextTokenizer)."
            )
        masked = (tf.random.uniform(tf.shape(ids)) < self.rate) & (
            ids != tf.cast(self.padding_id, ids.dtype)
        )
        return tf.where(masked, tf.cast(self.mask_id, ids.dtype), ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "mask_id": self.mask_id,
            "padding_id": self.padding_id,
        }
