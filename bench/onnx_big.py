"""Benchmark: load a ~1 GB ONNX file with embedded weights (issue 4 target: < 2 s, < 300 MB).

    python bench/onnx_big.py [--gib 1.0] [--layers 64] [--path /tmp/nnviz_big.onnx] [--onnx]

The file is written by streaming the protobuf wire format (so writing it needs only one
layer's weights in memory): a transformer-like stack where every layer has four square
MatMul weights plus LayerNorm/bias vectors, sized so the file reaches --gib. The load runs in a
fresh subprocess and reports wall time and peak RSS (ru_maxrss) of that process, which
includes importing nnviz and onnx, and its CPU time (cpu_s, import included: the honest
number on a busy machine). --onnx also measures plain onnx.load for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | 0x80 if value else b)
        if not value:
            return bytes(out)


def _field(number: int, payload_len: int) -> bytes:
    return _varint(number << 3 | 2) + _varint(payload_len)


def write_big_model(path: Path, gib: float, layers: int) -> dict:
    """Stream a model with ~gib GiB of float32 weights to path; returns a description."""
    per_layer = gib * (1 << 30) / layers
    d = int((per_layer / 4 / 4) ** 0.5) // 8 * 8  # four d x d float32 weights per layer
    nodes: list[onnx.NodeProto] = []
    weights: list[tuple[str, tuple[int, ...]]] = []
    x = "x"
    for i in range(layers):
        s = f"/model/layers.{i}"
        w = f"model.layers.{i}"
        ln = f"{s}/norm/LayerNormalization"
        nodes.append(helper.make_node("LayerNormalization", [x, f"{w}.norm.weight",
                                                             f"{w}.norm.bias"],
                                      [ln + "_output_0"], name=ln, axis=-1))
        weights += [(f"{w}.norm.weight", (d,)), (f"{w}.norm.bias", (d,))]
        h = ln + "_output_0"
        for proj in ("q", "k", "v", "o"):
            mm = f"{s}/attn/{proj}_proj/MatMul"
            nodes.append(helper.make_node("MatMul", [h, f"{w}.attn.{proj}_proj.weight"],
                                          [mm + "_output_0"], name=mm))
            weights.append((f"{w}.attn.{proj}_proj.weight", (d, d)))
            h = mm + "_output_0"
        act = f"{s}/act/Relu"
        nodes.append(helper.make_node("Relu", [h], [act + "_output_0"], name=act))
        add = f"{s}/Add"
        nodes.append(helper.make_node("Add", [x, act + "_output_0"], [add + "_output_0"],
                                      name=add))
        x = add + "_output_0"
    graph = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", 1, ["N", d])],
                              [helper.make_tensor_value_info(x, 1, ["N", d])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="nnviz-bench")
    graph_bytes = graph.SerializeToString()
    rng = np.random.RandomState(0)
    pool = rng.standard_normal(d * d).astype(np.float32).tobytes()
    inits: list[tuple[bytes, int]] = []
    for name, shape in weights:
        t = TensorProto(name=name, dims=list(shape), data_type=TensorProto.FLOAT)
        inits.append((t.SerializeToString(), int(np.prod(shape)) * 4))
    init_fields_len = 0
    for header, n in inits:
        body = len(header) + len(_field(9, n)) + n
        init_fields_len += len(_field(5, body)) + body
    # The ModelProto's other fields, then the graph with the initializers appended (fields of
    # a message may come in any order, and repeated fields concatenate).
    rest = onnx.ModelProto()
    rest.CopyFrom(model)
    rest.ClearField("graph")
    new_graph_len = len(graph_bytes) + init_fields_len
    with open(path, "wb") as fh:
        fh.write(rest.SerializeToString())
        fh.write(_field(7, new_graph_len))
        fh.write(graph_bytes)
        for header, n in inits:
            body = len(header) + len(_field(9, n)) + n
            fh.write(_field(5, body))
            fh.write(header)
            fh.write(_field(9, n))
            fh.write(pool[:n])
    return {"path": str(path), "bytes": path.stat().st_size, "layers": layers, "d": d,
            "nodes": len(nodes), "initializers": len(weights)}


_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
c0 = time.process_time()
mode, path = sys.argv[1], sys.argv[2]
if mode == "nnviz":
    from nnviz.loaders import load
    t1 = time.perf_counter()
    g = load(path)
    result = {"nodes": len(g.nodes), "params": g.total_params}
else:
    import onnx
    t1 = time.perf_counter()
    m = onnx.load(path)
    result = {"nodes": len(m.graph.node)}
t2 = time.perf_counter()
# cpu_s: on a shared machine wall time includes waiting for a core; CPU time does not.
result.update(import_s=t1 - t0, load_s=t2 - t1, cpu_s=time.process_time() - c0,
              peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(result))
"""


def measure(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--layers", type=int, default=64)
    parser.add_argument("--path", type=Path, default=Path("/tmp/nnviz_big.onnx"))
    parser.add_argument("--onnx", action="store_true", help="also time plain onnx.load")
    parser.add_argument("--keep", action="store_true", help="keep the file afterwards")
    args = parser.parse_args()
    t = time.perf_counter()
    info = write_big_model(args.path, args.gib, args.layers)
    info["write_s"] = round(time.perf_counter() - t, 2)
    print(json.dumps(info))
    try:
        for run in range(2):  # the first run may read the headers from disk
            r = measure("nnviz", args.path)
            print(json.dumps({"loader": "nnviz", "run": run, **{k: round(v, 3) if
                              isinstance(v, float) else v for k, v in r.items()}}))
        expected = sum(int(np.prod(s)) for s in [(info["d"],)] * 2 + [(info["d"],) * 2] * 4)
        assert r["params"] == expected * info["layers"], (r["params"], expected)
        if args.onnx:
            r = measure("onnx", args.path)
            print(json.dumps({"loader": "onnx.load", **{k: round(v, 3) if isinstance(v, float)
                                                          else v for k, v in r.items()}}))
    finally:
        if not args.keep:
            os.unlink(args.path)


if __name__ == "__main__":
    main()
