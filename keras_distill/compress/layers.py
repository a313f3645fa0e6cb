"""The layer classes that a saved compressed model names, registered for loading.

`keras.saving.load_model` finds a class that a `.keras` file names through
Keras' registry, so the class must be registered in the process that loads
the file. `import keras_distill` imports this module, which registers them.

On Keras 3 (our own engine):

- `FusedQuantize`: a quantization-aware Conv1D, Conv2D, DepthwiseConv2D or
  Dense with its folded BatchNormalization and fused ReLU.
- `ActivationQuantizer`: the 8-bit fake quantization of an activation.
- `QuantizedEmbedding`, `QuantizedEinsumDense`, `QuantizedMultiHeadAttention`:
  a Transformer's embedding table, projections and attention with int8
  weights and 8-bit activations.
- `QuantizedLSTMCell`, `QuantizedGRUCell`, `QuantizedSimpleRNNCell`: recurrent
  cells with int8 kernels and recurrent kernels (gates and cell state stay
  float), in a `keras.layers.RNN`, alone or in a `Bidirectional`.
- `PruningState`: the mask and threshold of a pruned kernel. A saved file never
  names it (a saved pruned model is a plain one); it is here because it is
  what a checkpoint of a pruned model holds.

On tf_keras, QAT models hold TF-MOT's wrappers: save them as HDF5 (`.h5`; the
`.keras` format does not reload TF-MOT's `QuantizeLayer`) and load them inside
`tfmot.quantization.keras.quantize_scope()`, as TF-MOT documents.
"""

from keras_distill import _compat

if _compat.LEGACY_KERAS:
    __all__ = []
else:
    from keras_distill.compress._keras3.magnitude_mask import PruningState
    from keras_distill.compress._keras3.quantized_einsum_dense import (
        QuantizedEinsumDense,
    )
    from keras_distill.compress._keras3.quantized_embedding import QuantizedEmbedding
    from keras_distill.compress._keras3.quantized_multi_head_attention import (
        QuantizedMultiHeadAttention,
    )
    from keras_distill.compress._keras3.quantized_recurrent import QuantizedGRUCell
    from keras_distill.compress._keras3.quantized_recurrent import QuantizedLSTMCell
    from keras_distill.compress._keras3.quantized_recurrent import (
        QuantizedSimpleRNNCell,
    )
    from keras_distill.compress._keras3.quantizers import ActivationQuantizer
    from keras_distill.compress._keras3.quantizers import FusedQuantize

    __all__ = [
        "ActivationQuantizer",
        "FusedQuantize",
        "PruningState",
        "QuantizedEinsumDense",
        "QuantizedEmbedding",
        "QuantizedGRUCell",
        "QuantizedLSTMCell",
        "QuantizedMultiHeadAttention",
        "QuantizedSimpleRNNCell",
    ]
