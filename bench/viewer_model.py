"""A synthetic transformer export in the IR, shaped like a real ONNX LLM export.

Used by the viewer benchmark and tests: per layer the ops an exporter emits (RMSNorm decomposed
into Pow/ReduceMean/Add/Sqrt/Div/Mul, rotary embeddings, shape plumbing Shape/Gather/Concat/
Reshape, attention MatMul/Softmax, gated MLP), module scopes as groups, and the high-fan-out
tensors (attention mask, position ids, rotary tables) that feed every layer.
"""

from __future__ import annotations

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.kinds import kind_for


class _Builder:
    def __init__(self, name: str) -> None:
        self.g = Graph(name=name, meta={"framework": "synthetic", "producer": "viewer_model"})
        self.count = 0

    def tensor(self, tid: str, shape: tuple, dtype: str = "float32") -> str:
        self.g.add_tensor(Tensor(tid, shape, dtype))
        return tid

    def op(self, op: str, group: tuple[str, ...], inputs: list[str], shape: tuple,
           params: list[Param] | None = None, dtype: str = "float32", attrs: dict | None = None,
           flops: int | None = None) -> str:
        self.count += 1
        scope = "/" + "/".join(group) if group else ""
        nid = self.g.unique_node_id(f"{scope}/{op}_{self.count}")
        out = self.tensor(f"{nid}_output_0", shape, dtype)
        if group:
            self.g.ensure_group(group)
        meta = {"flops": flops} if flops is not None else {}
        self.g.add_node(Node(nid, op, kind_for(op), nid, dict(attrs or {}), list(inputs), [out],
                             list(params or []), group, meta))
        return out


def transformer(layers: int = 24, hidden: int = 1024, heads: int = 16, seq: str = "seq",
                vocab: int = 32000, plumbing: int = 6) -> Graph:
    """A decoder-only transformer; ``plumbing`` shape ops per attention block scale the size."""
    b = _Builder(f"synthetic-llm-{layers}L")
    g = b.g
    ids = b.tensor("input_ids", ("batch", seq), "int64")
    mask = b.tensor("attention_mask", ("batch", seq), "int64")
    g.add_node(Node("input_ids", "Input", "io", "input_ids", outputs=[ids]))
    g.add_node(Node("attention_mask", "Input", "io", "attention_mask", outputs=[mask]))
    g.inputs = [ids, mask]
    hs = ("batch", seq, hidden)
    x = b.op("Gather", ("model", "embed_tokens"), [ids], hs,
             [Param("model.embed_tokens.weight", (vocab, hidden), "float32")])
    pos = b.op("Range", ("model", "rotary_emb"), [mask], (seq,), dtype="int64")
    cos = b.op("Cos", ("model", "rotary_emb"), [pos], (seq, hidden // heads))
    sin = b.op("Sin", ("model", "rotary_emb"), [pos], (seq, hidden // heads))
    m = b.op("Cast", ("model",), [mask], ("batch", 1, seq, seq))
    mlp = hidden * 8 // 3

    def norm(scope: tuple[str, ...], x: str, w: str) -> str:
        p = b.op("Pow", scope, [x], hs)
        r = b.op("ReduceMean", scope, [p], ("batch", seq, 1))
        a = b.op("Add", scope, [r], ("batch", seq, 1))
        s = b.op("Sqrt", scope, [a], ("batch", seq, 1))
        d = b.op("Div", scope, [x, s], hs)
        return b.op("Mul", scope, [d], hs, [Param(w, (hidden,), "float32")])

    for i in range(layers):
        lay = ("model", f"layers.{i}")
        pre = f"model.layers.{i}"
        h = norm(lay + ("input_layernorm",), x, f"{pre}.input_layernorm.weight")
        att = lay + ("self_attn",)
        qkv = []
        for proj in ("q_proj", "k_proj", "v_proj"):
            t = b.op("MatMul", att + (proj,), [h], hs,
                     [Param(f"{pre}.self_attn.{proj}.weight", (hidden, hidden), "float32")],
                     flops=2 * hidden * hidden)
            shp = b.op("Shape", att, [t], (3,), dtype="int64")
            for k in range(plumbing):
                shp = b.op(("Gather", "Unsqueeze", "Concat")[k % 3], att, [shp], (4,),
                           dtype="int64")
            t = b.op("Reshape", att, [t, shp], ("batch", seq, heads, hidden // heads))
            t = b.op("Transpose", att, [t], ("batch", heads, seq, hidden // heads),
                     attrs={"perm": [0, 2, 1, 3]})
            if proj != "v_proj":
                rot, hd = att + ("rotary",), ("batch", heads, seq, hidden // heads)
                c1 = b.op("Mul", rot, [t, cos], hd)
                c2 = b.op("Mul", rot, [t, sin], hd)
                t = b.op("Add", rot, [c1, c2], hd)
            qkv.append(t)
        q, k, v = qkv
        kt = b.op("Transpose", att, [k], ("batch", heads, hidden // heads, seq))
        s = b.op("MatMul", att, [q, kt], ("batch", heads, seq, seq))
        s = b.op("Div", att, [s], ("batch", heads, seq, seq))
        s = b.op("Add", att, [s, m], ("batch", heads, seq, seq))
        s = b.op("Softmax", att, [s], ("batch", heads, seq, seq), attrs={"axis": -1})
        o = b.op("MatMul", att, [s, v], ("batch", heads, seq, hidden // heads))
        o = b.op("Transpose", att, [o], ("batch", seq, heads, hidden // heads))
        o = b.op("Reshape", att, [o], hs)
        o = b.op("MatMul", att + ("o_proj",), [o], hs,
                 [Param(f"{pre}.self_attn.o_proj.weight", (hidden, hidden), "float32")],
                 flops=2 * hidden * hidden)
        x = b.op("Add", lay, [x, o], hs)
        h = norm(lay + ("post_attention_layernorm",), x, f"{pre}.post_attention_layernorm.weight")
        ff = lay + ("mlp",)
        gt = b.op("MatMul", ff + ("gate_proj",), [h], ("batch", seq, mlp),
                  [Param(f"{pre}.mlp.gate_proj.weight", (hidden, mlp), "float32")])
        up = b.op("MatMul", ff + ("up_proj",), [h], ("batch", seq, mlp),
                  [Param(f"{pre}.mlp.up_proj.weight", (hidden, mlp), "float32")])
        sg = b.op("Sigmoid", ff + ("act_fn",), [gt], ("batch", seq, mlp))
        sl = b.op("Mul", ff + ("act_fn",), [gt, sg], ("batch", seq, mlp))
        pr = b.op("Mul", ff, [sl, up], ("batch", seq, mlp))
        dn = b.op("MatMul", ff + ("down_proj",), [pr], hs,
                  [Param(f"{pre}.mlp.down_proj.weight", (mlp, hidden), "float32")])
        x = b.op("Add", lay, [x, dn], hs)
    x = norm(("model", "norm"), x, "model.norm.weight")
    logits = b.op("MatMul", ("lm_head",), [x], ("batch", seq, vocab),
                  [Param("lm_head.weight", (hidden, vocab), "float32")])
    g.add_node(Node("logits", "Output", "io", "logits", inputs=[logits]))
    g.outputs = [logits]
    return g


def transformer_nodes(target: int, layers: int = 64) -> Graph:
    """A ``layers``-layer transformer with about ``target`` nodes (more shape plumbing per
    projection, as dynamic-shape exports have, makes up the size)."""
    base = len(transformer(layers=0).nodes)
    per_layer = len(transformer(layers=1, plumbing=0).nodes) - base
    want = (target - base) / layers
    plumbing = max(0, round((want - per_layer) / 3))
    return transformer(layers=layers, plumbing=plumbing)
