"""Identical constant tensors of a `.tflite` file merged; fused names shortened.

Why: a recurrent student is exported unrolled (see `recurrent`), one set of
ops per time step. In the float file the converter gives the 40 steps'
FULLY_CONNECTED ops one kernel tensor and one bias tensor. In an int8 file of
a QAT model it shares the int8 kernels too, but gives each step's
FULLY_CONNECTED its own int32 bias tensor (the bias is quantized per op, with
scale input scale x weight scale), with the same data and the same 192
per-channel scales and int64 zero points: on the MNIST-1D GRU(64) student, 80
such tensors of about 2.3 KB of quantization parameters each, 40 % of the
file, all copies of two. Here every constant tensor (one whose data is in the
file) that is byte for byte another one (type, shape, quantization, data) is
replaced by that one in every op that reads it, and removed.

A tensor read by several ops is ordinary in LiteRT (the float file already
shares its kernels across the steps), constants are read-only, and only
indices change, so the file computes exactly the same outputs. Buffers with
identical bytes are merged as well. The data of every buffer is written
16-byte aligned, as the converter writes it.

Tensor names are shortened the same way. The converter names a tensor it
fused from several ops by all their names joined with `;`: in the unrolled
GRU's post-training int8 file, each step's input is named after the 40
`unstack` outputs (1,030 characters, 49 KB of names in a 218 KB file). Of
the parts that share a name scope (all but the last `/` segment), only the
last is kept, in order: `gru/unstack;gru/unstack1;...;gru/unstack39` becomes
`gru/unstack39`, while `dense/MatMul;activation/Relu` stays as it is. Every
layer a name mentioned is still mentioned, the last one last, so
`find_float_ops` names the same layers. The model's input and output tensors
keep their names.

Files whose data lies outside the flatbuffer (over 2 GB) are returned as
they are. The flatbuffer is read and written with LiteRT's generated schema
(`ai_edge_litert.schema_py_generated`), the object API that TensorFlow's own
`tensorflow/lite/tools/flatbuffer_utils.py` uses.
"""

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_FILE_IDENTIFIER = b"TFL3"
_BUFFER_ALIGNMENT = 16  # what the converter uses for constant data


class _AlignedBufferT(schema.BufferT):
    """A `BufferT` whose data vector starts on a 16-byte boundary."""

    def Pack(self, builder):  # noqa: N802 (flatbuffers' name)
        data = None
        if self.data is not None:
            raw = np.frombuffer(bytes(self.data), dtype=np.uint8)
            builder.Prep(_BUFFER_ALIGNMENT, raw.size)
            data = builder.CreateNumpyVector(raw)
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def _aligned(buffer) -> _AlignedBufferT:
    out = _AlignedBufferT()
    out.data, out.offset, out.size = buffer.data, buffer.offset, buffer.size
    return out


def _data(buffer) -> "bytes | None":
    if buffer.data is None or len(buffer.data) == 0:
        return None
    return bytes(np.asarray(buffer.data, dtype=np.uint8))


def _packed(table) -> bytes:
    builder = flatbuffers.Builder(256)
    builder.Finish(table.Pack(builder))
    return bytes(builder.Output())


def _tensor_key(tensor) -> bytes:
    """Everything but the name, as bytes; `tensor.buffer` is already canonical."""
    name, tensor.name = tensor.name, None
    try:
        return _packed(tensor)
    finally:
        tensor.name = name


def _short_name(name: bytes) -> bytes:
    """The last part of each name scope of a `;`-joined fused name, in order."""
    parts = name.split(b";")
    if len(parts) < 2:
        return name
    last = {part.rpartition(b"/")[0]: i for i, part in enumerate(parts)}
    return b";".join(parts[i] for i in sorted(last.values()))


def _shorten_names(model) -> bool:
    """Shortens fused tensor names but the model's inputs' and outputs'."""
    changed = False
    for subgraph in model.subgraphs or ():
        boundary = set(subgraph.inputs or ()) | set(subgraph.outputs or ())
        for index, tensor in enumerate(subgraph.tensors or ()):
            if tensor.name is None or index in boundary:
                continue
            short = _short_name(tensor.name)
            if short != tensor.name:
                tensor.name, changed = short, True
    return changed


def _merge_buffers(model) -> list[int]:
    """Index of the first buffer with the same bytes, for every buffer."""
    first: dict[bytes, int] = {}
    canonical = list(range(len(model.buffers)))
    for index, buffer in enumerate(model.buffers):
        data = _data(buffer)
        if data is not None:
            canonical[index] = first.setdefault(data, index)
    return canonical


def _merge_tensors(model, subgraph_index: int, buffer_of: list[int]) -> int:
    """Merges the identical constants of one subgraph; how many were removed."""
    subgraph = model.subgraphs[subgraph_index]
    tensors = subgraph.tensors or []
    boundary = set(subgraph.inputs or ()) | set(subgraph.outputs or ())
    first: dict[bytes, int] = {}
    same_as = list(range(len(tensors)))
    for index, tensor in enumerate(tensors):
        tensor.buffer = buffer_of[tensor.buffer]
        constant = (
            tensor.buffer > 0
            and _data(model.buffers[tensor.buffer]) is not None
            and not tensor.isVariable
            and index not in boundary
        )
        if constant:
            same_as[index] = first.setdefault(_tensor_key(tensor), index)
    removed = [i for i, j in enumerate(same_as) if i != j]
    if not removed:
        return 0
    new_index, kept = [], 0
    for i, j in enumerate(same_as):
        new_index.append(kept)
        kept += i == j
    index_of = [new_index[j] for j in same_as]

    def remap(indices):
        if indices is None:
            return None
        return [index_of[i] if i >= 0 else i for i in indices]

    for op in subgraph.operators or ():
        op.inputs = remap(op.inputs)
        op.outputs = remap(op.outputs)
        op.intermediates = remap(op.intermediates)
    subgraph.inputs = remap(subgraph.inputs)
    subgraph.outputs = remap(subgraph.outputs)
    for signature in model.signatureDefs or ():
        if signature.subgraphIndex != subgraph_index:
            continue
        for entry in (signature.inputs or []) + (signature.outputs or []):
            entry.tensorIndex = index_of[entry.tensorIndex]
    subgraph.tensors = [t for i, t in enumerate(tensors) if same_as[i] == i]
    return len(removed)


def _outside_flatbuffer(model) -> bool:
    return bool(
        any(buffer.offset for buffer in model.buffers or ())
        or model.externalBuffers
        or any(
            tensor.externalBuffer
            for subgraph in model.subgraphs or ()
            for tensor in subgraph.tensors or ()
        )
    )


def deduplicate_constants(content: bytes) -> bytes:
    """A `.tflite` file with each set of identical constant tensors made one.

    Use it on a converted file whose ops read copies of the same constant,
    such as an unrolled recurrent layer in int8 (one bias copy per time step);
    `convert_tflite` calls it on every file. Fused tensor names that repeat a
    name scope are shortened too (see the module docstring). The file
    computes the same outputs, bit for bit; it is only smaller.

    Args:
        content: the bytes of a `.tflite` file.

    Returns:
        The bytes of the file with duplicate constant tensors removed, merged
        buffers, shortened names and 16-byte aligned data; `content` itself
        when there is nothing to change, that would not make it smaller, or
        its data lies outside the flatbuffer.

    Raises:
        ValueError: `content` is not a `.tflite` flatbuffer.

    Example:

    >>> content = convert_tflite(qat_gru, quantization="int8")  # doctest: +SKIP
    >>> smaller = deduplicate_constants(content)  # doctest: +SKIP
    """
    content = bytes(content)
    if len(content) < 8 or content[4:8] != _FILE_IDENTIFIER:
        raise ValueError(
            "`content` is not a .tflite file (its bytes 4-8 should be b'TFL3'); "
            "pass the bytes convert_tflite returns or a .tflite file's bytes."
        )
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    if _outside_flatbuffer(model):
        return content
    buffer_of = _merge_buffers(model)
    used_before = {t.buffer for s in model.subgraphs or () for t in s.tensors or ()}
    removed = sum(
        _merge_tensors(model, index, buffer_of)
        for index in range(len(model.subgraphs or ()))
    )
    renamed = _shorten_names(model)
    if not removed and not renamed and buffer_of == list(range(len(buffer_of))):
        return content
    used_after = {t.buffer for s in model.subgraphs or () for t in s.tensors or ()}
    used_after |= {m.buffer for m in model.metadata or ()}
    used_after |= set(model.metadataBuffer or ())
    for index in used_before - used_after:
        model.buffers[index].data = None
    model.buffers = [_aligned(buffer) for buffer in model.buffers]
    builder = flatbuffers.Builder(len(content))
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    rewritten = bytes(builder.Output())
    # Names shortened by a few characters can cost more in realigned data.
    return rewritten if len(rewritten) < len(content) else content
