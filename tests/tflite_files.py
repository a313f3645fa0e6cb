"""What tests read from a converted `.tflite` file."""

import numpy as np


def fully_connected_input_dtypes(content: bytes) -> list[tuple[str, str]]:
    """(activation, weights) dtypes of every FULLY_CONNECTED op of the file."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    interpreter = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    return [
        tuple(np.dtype(tensors[i]["dtype"]).name for i in op["inputs"][:2])
        for op in interpreter._get_ops_details()
        if op["op_name"] == "FULLY_CONNECTED"
    ]
