"""The real-model zoo: architectures people draw, built with random weights (nothing is
downloaded), through every route a user takes (live object, torch.export .pt2, ONNX from the
dynamo and the TorchScript exporter, .keras, .h5), with the framework's own parameter count
as ground truth; and the fidelity invariants every drawing of them must satisfy.

    python -m tests.zoo build [names]    # fill $NNVIZ_ZOO_DIR (default ~/.cache/nnviz-zoo)
    python -m tests.zoo report [names]   # the model x route table (boxes, totals, invariants)
"""
