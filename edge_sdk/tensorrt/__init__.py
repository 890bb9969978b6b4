"""TensorRT engines for the SDK: what differs between versions, CUDA through cuda-python, the
engine build, and the engine cache beside a bundle.

Imports run one way: ``compat`` (version features, the logger) → ``cuda`` (memory, streams,
graphs) → ``build`` (one ONNX → one plan) → ``cache`` (a bundle's engines, found or built); the
backend (:mod:`edge_sdk.backends.tensorrt_backend`) sits on top. Nothing here imports TensorRT or
cuda-python until a function that needs them is called.
"""
