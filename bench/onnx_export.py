"""Write a bench graph (nnviz IR) as a real ONNX file, as an exporter would name it.

Node names carry the module scope (``/h.3/attn/MatMul``) so the ONNX loader rebuilds the
groups; weights are initializers with their true dims stored as external data, so a
50k-node model file stays small and the loader (which never opens external data) reads it
the way it reads a real export.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from nnviz.ir import Graph


def to_onnx(graph: Graph, path: str | Path) -> Path:
    path = Path(path)
    inits: dict[str, TensorProto] = {}
    nodes = []
    offset = 0
    for node in graph.nodes.values():
        if node.op in ("Input", "Output"):
            continue
        inputs = list(node.inputs)
        for p in node.params:
            if p.name not in inits:
                t = TensorProto(name=p.name, data_type=TensorProto.FLOAT,
                                dims=[int(d) for d in (p.shape or ())])
                t.data_location = TensorProto.EXTERNAL
                n = 4
                for d in p.shape or ():
                    n *= int(d)
                for k, v in (("location", path.stem + ".weights"), ("offset", str(offset)),
                             ("length", str(n))):
                    e = t.external_data.add()
                    e.key, e.value = k, v
                offset += n
                inits[p.name] = t
            inputs.append(p.name)
        scope = "/" + "/".join(node.group) if node.group else ""
        nodes.append(helper.make_node(node.op, inputs, list(node.outputs),
                                      name=f"{scope}/{node.name or node.op}_{node.id}"))

    def vi(t: str) -> onnx.ValueInfoProto:
        shape = graph.tensors[t].shape
        return helper.make_tensor_value_info(t, TensorProto.FLOAT,
                                             list(shape) if shape is not None else None)

    g = helper.make_graph(nodes, graph.name, [vi(t) for t in graph.inputs],
                          [vi(t) for t in graph.outputs], list(inits.values()))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="nnviz-bench")
    path.write_bytes(model.SerializeToString())
    return path
