"""Our Keras 3 compression engine (pruning and QAT), used when keras_distill runs on Keras 3."""
