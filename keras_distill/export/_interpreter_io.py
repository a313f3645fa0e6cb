"""Feeding and reading a LiteRT interpreter's tensors, as an Android app does.

Shared by `verify` and `latency`: an int8 input is quantized with the
tensor's own scale and zero point, an int8 output dequantized the same way.
"""

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def open_interpreter(content: bytes, num_threads: int, label: str) -> Interpreter:
    try:
        return Interpreter(model_content=content, num_threads=num_threads)
    except ValueError as err:
        raise ValueError(f"{label} is not a valid .tflite model: {err}") from err


def is_quantized(detail: dict) -> bool:
    scale, _ = detail["quantization"]
    return np.dtype(detail["dtype"]).kind in "iu" and scale != 0


def to_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Raw examples in the tensor's dtype, quantized as an app must do for int8."""
    dtype = np.dtype(detail["dtype"])
    if not is_quantized(detail):
        return x.astype(dtype, copy=False)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float64) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def from_output(out: np.ndarray, detail: dict) -> np.ndarray:
    if not is_quantized(detail):
        return out.astype(np.float32, copy=False)
    scale, zero_point = detail["quantization"]
    return ((out.astype(np.float32) - zero_point) * scale).astype(np.float32)


def shape_signature(detail: dict) -> tuple:
    return tuple(None if d < 0 else int(d) for d in detail["shape_signature"])
