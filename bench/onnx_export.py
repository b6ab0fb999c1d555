"""Write a bench graph (nnviz IR) as a valid ONNX file, as a real exporter writes it.

The file is what torch.onnx (dynamo) / HF optimum write for the same stack, so the bench
measures what users load (``onnx.checker.check_model(path, full_check=True)`` passes):

* one ONNX node per IR node, named after its module scope (``/h.3/attn/MatMul_12``) so the
  loader rebuilds the groups, with every input its op requires in ONNX's order: Gather reads
  (table, indices), Where (condition, X, Y), Reshape its target shape, Div its divisor;
  the shapes and scalars are small anonymous initializers (``val_N``, the dynamo exporter's
  names), which the loader counts nowhere (IR role "constant");
* the attributes the drawing's shapes imply (Transpose perms, Softmax/LayerNorm axes, Conv
  strides and pads), Gelu in its opset-20 form (GPT-2's tanh approximation);
* integer token ids, a boolean attention mask, value_info for every intermediate tensor (as
  the dynamo exporter writes it: here from onnx shape inference over the finished graph);
* the weights as external data in ``<stem>.weights`` beside the model. That file is sparse
  (its true length, no blocks written: a 50k-node GPT is 47 GB of float32), so the checker
  finds it and the loader, which never opens external data, reads the file as it reads a
  real export.

A tied LM head (the IR's ``lm_head`` reading the embedding table ``wte.weight``) is written
as the TorchScript exporter folds it: an anonymous transposed copy (``onnx::MatMul_N``),
which the loader ties back to the table, so the parameter total is the IR's.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

from nnviz.ir import Graph, Node

OPSET = 20  # Gelu is an opset-20 operator
_DTYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "bool": TensorProto.BOOL}


class _Writer:
    def __init__(self, graph: Graph, path: Path):
        self.g = graph
        self.path = path
        self.inits: dict[str, TensorProto] = {}
        self.offset = 0
        self.k = 0
        self.consts: dict[tuple[str, str], str] = {}
        self.producer = {t: n for n in graph.nodes.values() for t in n.outputs}
        # graph inputs typed by what reads them: token ids index a Gather, a mask is a
        # Where condition (or, after a Slice, the same); everything else is float
        self.dtype: dict[str, int] = {}
        # Q @ K^T: the IR shows K's heads as (batch, heads, seq, 64) like Q's and the scores
        # as (.., seq, seq); the Transpose making the second operand puts 64 first instead
        self.kt: set[str] = set()
        for n in graph.nodes.values():
            ins = list(n.inputs)
            if n.op == "Gather" and ins:
                self.dtype[ins[0]] = TensorProto.INT64
            if n.op == "Where" and ins:
                self.dtype[ins[-1]] = TensorProto.BOOL
            if n.op == "MatMul" and len(ins) == 2 and not n.params:
                p = self.producer.get(ins[1])
                out, rhs = self.shape(n.outputs[0]), self.shape(ins[1])
                if p is not None and p.op == "Transpose" and out and rhs and \
                        out[-1] != rhs[-1]:
                    self.kt.add(p.id)

    # -- initializers ----------------------------------------------------------------
    def weight(self, name: str, dims: tuple, dtype: int = TensorProto.FLOAT) -> str:
        if name not in self.inits:
            t = TensorProto(name=name, data_type=dtype, dims=[int(d) for d in dims])
            t.data_location = TensorProto.EXTERNAL
            n = 1 if dtype == TensorProto.BOOL else 4
            for d in dims:
                n *= int(d)
            for key, v in (("location", self.weights_file().name), ("offset", str(self.offset)),
                           ("length", str(n))):
                e = t.external_data.add()
                e.key, e.value = key, v
            self.offset += n
            self.inits[name] = t
        return name

    def const(self, value: object, dtype: str) -> str:
        """A small operator argument (shape, scalar): an anonymous initializer, one per
        distinct value as the dynamo exporter writes them (its optimizer merges equal ones,
        so every block's heads split reads the same ``val_N``)."""
        import numpy as np

        key = (repr(value), dtype)
        if key not in self.consts:
            name = f"val_{self.k}"
            self.k += 1
            self.inits[name] = numpy_helper.from_array(np.array(value, dtype=dtype), name)
            self.consts[key] = name
        return self.consts[key]

    def weights_file(self) -> Path:
        return self.path.with_name(self.path.stem + ".weights")

    # -- nodes -----------------------------------------------------------------------
    def shape(self, t: str) -> tuple:
        return tuple(self.g.tensors[t].shape or ())

    def node(self, n: Node) -> onnx.NodeProto:
        ins = list(n.inputs)
        params = list(n.params)
        attrs: dict[str, object] = {}
        op = n.op
        if op == "Gather":  # (table, indices)
            ins = [self.weight(params[0].name, params[0].shape)] + ins
            params = params[1:]
        elif op == "Where":  # (condition, X, Y): masked scores take -inf
            ins = [ins[-1]] + ins[:-1]
            while len(ins) < 3:
                ins.append(self.const(float("-inf"), "float32"))
        elif op == "Reshape":
            src, dst = self.shape(ins[0]), self.shape(n.outputs[0])
            target = [d if isinstance(d, int) else
                      (0 if i < len(src) and src[i] == d else -1) for i, d in enumerate(dst)]
            ins.append(self.const(target, "int64"))
        elif op == "Transpose":
            src, dst = self.shape(ins[0]), self.shape(n.outputs[0])
            perm = [src.index(d) for d in dst] if sorted(map(str, src)) == sorted(
                map(str, dst)) and len(set(map(str, src))) == len(src) else \
                list(reversed(range(len(src))))
            if n.id in self.kt:  # K^T for Q @ K^T
                perm[-1], perm[-2] = perm[-2], perm[-1]
            attrs["perm"] = perm
        elif op == "Div" and len(ins) + len(params) < 2:  # attention scale 1/sqrt(d_head)
            mm = self.producer.get(ins[0])
            head = self.shape(mm.inputs[0])[-1] if mm is not None and mm.inputs else 64
            ins.append(self.const(float(head if isinstance(head, int) else 64) ** 0.5,
                                  "float32"))
        elif op == "Slice" and not ins:  # the causal mask: rows/cols 0..seq of a bool table
            ins = [self.const_mask(), self.const([0, 0], "int64"),
                   self.const([1024, 1024], "int64"), self.const([2, 3], "int64")]
        elif op in ("Softmax", "LayerNormalization"):
            attrs["axis"] = -1
        elif op == "Gelu":
            attrs["approximate"] = "tanh"
        elif op == "MatMul" and params:
            p = params[0]
            k = self.shape(ins[0])[-1] if ins and self.shape(ins[0]) else None
            if p.shape and len(p.shape) == 2 and p.shape[0] != k and p.shape[1] == k:
                # a tied head: the exporter's folded transposed copy of the table
                ins.append(self.weight(f"onnx::MatMul_{self.k}", tuple(reversed(p.shape))))
                self.k += 1
                params = []
        for p in params:
            ins.append(self.weight(p.name, p.shape or ()))
        scope = "/" + "/".join(n.group) if n.group else ""
        return helper.make_node(op, ins, list(n.outputs), name=f"{scope}/{n.name or op}_{n.id}",
                                **attrs)

    def const_mask(self) -> str:
        if "causal" not in self.__dict__:
            name = f"val_{self.k}"
            self.k += 1
            self.causal = self.weight(name, (1, 1, 1024, 1024), TensorProto.BOOL)
        return self.causal

    def model(self) -> onnx.ModelProto:
        nodes = [self.node(n) for n in self.g.nodes.values() if n.op not in ("Input", "Output")]

        # A causal mask sliced from a (1, 1, 1024, 1024) table by a node with no activation
        # input cannot follow a symbolic sequence length (an exporter adds Shape/Gather nodes
        # for that, boxes the IR does not have): such a graph is exported for a fixed
        # length, as torch.onnx exports by default.
        fixed = {"seq": 1024} if any(n.op == "Slice" and not n.inputs
                                     for n in self.g.nodes.values()) else {}

        def vi(t: str) -> onnx.ValueInfoProto:
            shape = self.g.tensors[t].shape
            dims = [fixed.get(d, d) if isinstance(d, str) else d for d in shape] \
                if shape is not None else None
            return helper.make_tensor_value_info(t, self.dtype.get(t, TensorProto.FLOAT), dims)

        gp = helper.make_graph(nodes, self.g.name, [vi(t) for t in self.g.inputs],
                               [vi(t) for t in self.g.outputs], list(self.inits.values()))
        m = helper.make_model(gp, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nnviz-bench")
        # value_info for every intermediate tensor, as the dynamo exporter writes it; the
        # graph's own output keeps the declared type
        try:
            inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
        except onnx.shape_inference.InferenceError:
            # The ResNet/UNet families are not valid networks as IR (batch norms without
            # scale or mean, UNet convolutions whose weights ignore the channels they read):
            # their files are written as before, typed as far as inference gets, so the
            # size table still draws them. The transformer families never take this path.
            inferred = onnx.shape_inference.infer_shapes(m)
        outs = set(self.g.outputs)
        m.graph.ClearField("output")
        m.graph.output.extend(o for o in inferred.graph.output)
        m.graph.value_info.extend(v for v in inferred.graph.value_info if v.name not in outs)
        return m


def to_onnx(graph: Graph, path: str | Path) -> Path:
    """``graph`` as a valid ONNX file at ``path`` plus its sparse ``<stem>.weights``."""
    path = Path(path)
    w = _Writer(graph, path)
    model = w.model()
    weights = w.weights_file()
    tmp = weights.with_name(weights.name + ".part")
    with open(tmp, "wb") as fh:
        fh.truncate(w.offset)  # sparse: the right length, no blocks written
    os.replace(tmp, weights)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, path)
    return path
