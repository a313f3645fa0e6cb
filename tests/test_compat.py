"""The Keras adapter (_compat.py): the one place that reads Keras' private API.

Keras has no public API for a layer's sublayers or a Functional model's call
graph. These tests pin what the adapter returns on the Keras in use, so a
Keras release that changes those attributes fails here, and one test keeps
every other module off them.
"""

import pathlib
import re

import tensorflow as tf

from keras_distill import _compat
from keras_distill._compat import keras

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_distill"
PRIVATE = re.compile(r"_flatten_layers|_nodes_by_depth|_inbound_nodes|keras\.src\b")


def _model():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a")])
    x = keras.Input((4,))
    h = inner(x)
    block = keras.layers.Dense(2, name="b")
    return keras.Model(x, block(h), name="outer"), inner, block


def test_sublayers_lists_nested_layers_once_and_stops_where_told():
    model, inner, block = _model()
    names = [layer.name for layer in _compat.sublayers(model)]
    assert names.count("a") == 1 and names.count("b") == 1
    assert inner.name in names and "outer" not in names
    shallow = [layer.name for layer in _compat.sublayers(model, recursive=False)]
    assert "a" not in shallow and "b" in shallow and inner.name in shallow


def test_sublayers_of_attention_are_its_projections():
    attention = keras.layers.MultiHeadAttention(2, 4)
    attention(keras.Input((3, 8)), keras.Input((3, 8)))
    dense = [s for s in _compat.sublayers(attention) if s.weights]
    assert len(dense) == 4  # query, key, value and output projections
    assert sum(len(s.weights) for s in dense) == len(attention.weights)


def test_graph_nodes_and_inbound_nodes_describe_each_call():
    model, _, block = _model()
    nodes = _compat.nodes_by_depth(model)
    assert all(isinstance(depth, int) for depth in nodes)
    assert sum(len(n) for n in nodes.values()) == len(model.layers)
    (node,) = _compat.inbound_nodes(block)
    (inputs,), (outputs,) = (
        tf.nest.flatten(node.input_tensors),
        tf.nest.flatten(node.outputs),
    )
    assert (tuple(inputs.shape), tuple(outputs.shape)) == ((None, 3), (None, 2))
    assert _compat.is_graph_model(model)


def test_no_module_but_compat_reads_keras_private_api():
    offenders = {
        str(path.relative_to(PACKAGE)): PRIVATE.findall(path.read_text())
        for path in PACKAGE.rglob("*.py")
        if path.name != "_compat.py"
    }
    assert {k: v for k, v in offenders.items() if v} == {}
