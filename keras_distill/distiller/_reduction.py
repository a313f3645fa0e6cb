"""How the Distiller reduces per-example losses to the number it differentiates.

Every loss is reduced the same way (weighted sum over the batch divided by the
batch size), then scaled for `tf.distribute` so that the replicas' summed
gradients equal one device's.
"""

import tensorflow as tf

from keras_distill._compat import keras


def per_example_weights(sample_weight, batch):
    """One float32 weight per example, `(batch,)`, or None."""
    if sample_weight is None:
        return None
    weights = tf.cast(sample_weight, tf.float32)
    return tf.reshape(weights, [batch, -1])[:, 0]


def per_example_loss(loss_fn, y, logits, batch):
    """The student loss of each example, float32 `(batch,)`.

    A Keras `Loss` is called unreduced (its `call`): the Distiller reduces it like
    the distillation losses, because Keras 3 losses would otherwise divide by the
    replica count a second time and tf_keras refuses reduced losses under a
    `tf.distribute` strategy.
    """
    logits = tf.cast(logits, tf.float32)
    if isinstance(loss_fn, keras.losses.Loss):
        values = loss_fn.call(y, logits)
    else:
        values = loss_fn(y, logits)
    values = tf.cast(values, tf.float32)
    if values.shape.rank == 0:  # a plain function that already reduced the batch
        return values
    return tf.reduce_mean(tf.reshape(values, [batch, -1]), axis=-1)


def weighted_mean(values, weights, batch):
    """sum_i w_i * l_i / batch, Keras' "sum_over_batch_size" reduction.

    0 for an empty batch, which a replica gets when a strategy splits a short
    final batch.
    """
    values = tf.cast(values, tf.float32)
    if values.shape.rank == 0:
        return values if weights is None else values * tf.reduce_mean(weights)
    values = tf.reshape(values, [batch, -1])
    values = tf.reduce_mean(values, axis=-1)
    if weights is not None:
        values = values * weights
    return tf.math.divide_no_nan(tf.reduce_sum(values), tf.cast(batch, tf.float32))


def scale_for_distribution(loss, batch):
    """Turns a replica's batch-mean loss into its share of the global batch mean.

    Under a `tf.distribute` strategy each replica sees `batch` of the global batch
    and the optimizer sums the replicas' gradients, so the loss to differentiate
    is `loss * batch / global_batch`: the sum of the replicas' gradients is then
    the gradient of the global batch mean, as on one device, also when the
    final batch is split unevenly (or leaves a replica empty).
    """
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return loss
    batch = tf.cast(batch, tf.float32)
    global_batch = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, batch
    )
    return loss * tf.math.divide_no_nan(batch, global_batch)
