"""Tiny image models that record the last batch they were called on."""

from keras_distill._compat import keras


@keras.saving.register_keras_serializable(package="keras_distill_tests")
class Recorder(keras.layers.Layer):
    """Identity layer keeping a copy of its last input (a fixed-size batch)."""

    def __init__(self, batch_shape, **kwargs):
        super().__init__(**kwargs)
        self.batch_shape = tuple(batch_shape)

    def build(self, input_shape):
        self.seen = self.add_weight(
            name="seen", shape=self.batch_shape, initializer="zeros", trainable=False
        )

    def call(self, inputs):
        self.seen.assign(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "batch_shape": self.batch_shape}


def spied_model(batch_shape, classes=3, name=None, flatten=False):
    """Recorder, then a small convolution or a flattening Dense, then logits."""
    inputs = keras.Input(batch_shape[1:])
    x = Recorder(batch_shape, name="recorder")(inputs)
    if flatten:
        x = keras.layers.Flatten()(x)
    else:
        x = keras.layers.Conv2D(4, 3, name="conv")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def seen(model):
    return model.get_layer("recorder").seen.numpy()
