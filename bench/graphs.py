"""NN-shaped nnviz graphs for the layout benchmark and tests, built directly as IR.

Families mirror real exports: ``transformer`` (GPT-2-like blocks with Q/K/V branches and
residual adds, one attention-mask input feeding every block, as in Hugging Face exports),
``resnet`` (bottleneck stages with skip adds and downsample branches) and ``unet`` (an
encoder-decoder with long skip connections). With ``grouped`` the nodes carry module scopes
(``("h.3", "attn")``) as ONNX/PyTorch loaders produce them.
"""

from __future__ import annotations

from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.kinds import kind_for


class _B:
    def __init__(self, name: str):
        self.g = Graph(name=name)
        self.k = 0

    def add(self, op: str, inputs: list[str], group: tuple[str, ...] = (), name: str = "",
            shape: tuple | None = None, params: list[Param] | None = None,
            kind: str | None = None) -> str:
        nid = f"n{self.k}"
        self.k += 1
        out = f"t{nid}"
        self.g.add_tensor(Tensor(out, shape, "float32"))
        if group:
            self.g.ensure_group(group)
        self.g.add_node(Node(nid, op, kind or kind_for(op), name or op, inputs=list(inputs),
                             outputs=[out], params=params or [], group=group))
        return out

    def io_in(self, name: str, shape: tuple) -> str:
        nid = f"n{self.k}"
        self.k += 1
        self.g.add_tensor(Tensor(name, shape, "float32"))
        self.g.add_node(Node(nid, "Input", "io", name, outputs=[name]))
        self.g.inputs.append(name)
        return name

    def io_out(self, t: str) -> None:
        nid = f"n{self.k}"
        self.k += 1
        self.g.add_node(Node(nid, "Output", "io", "output", inputs=[t]))
        self.g.outputs.append(t)


def transformer(target_n: int, grouped: bool = True, shared_mask: bool = True,
                d: int = 768) -> Graph:
    """GPT-2-like: ~30 nodes per block; one mask input feeds every block's Where."""
    b = _B(f"gpt_{target_n}")
    blocks = max(1, round((target_n - 9) / 30))
    ids = b.io_in("input_ids", ("batch", "seq"))
    pos = b.io_in("position_ids", ("batch", "seq"))
    mask = b.io_in("attention_mask", ("batch", 1, "seq", "seq")) if shared_mask else None
    wte = b.add("Gather", [ids], ("wte",) if grouped else (), "wte", ("batch", "seq", d),
                [Param("wte.weight", (50257, d))])
    wpe = b.add("Gather", [pos], ("wpe",) if grouped else (), "wpe", ("batch", "seq", d),
                [Param("wpe.weight", (1024, d))])
    x = b.add("Add", [wte, wpe], (), "embed", ("batch", "seq", d))
    for i in range(blocks):
        blk = (f"h.{i}",) if grouped else ()
        att = blk + ("attn",) if grouped else ()
        mlp = blk + ("mlp",) if grouped else ()
        hs = ("batch", "seq", d)
        ln1 = b.add("LayerNormalization", [x], blk + ("ln_1",) if grouped else (), "ln_1", hs,
                    [Param(f"h.{i}.ln_1.w", (d,)), Param(f"h.{i}.ln_1.b", (d,))])
        m = mask
        if m is None:
            m = b.add("Slice", [], att, "causal_mask", (1, 1, "seq", "seq"))
        heads = []
        for t in "qkv":
            mm = b.add("MatMul", [ln1], att, f"{t}_proj", hs, [Param(f"h.{i}.{t}.w", (d, d))])
            a = b.add("Add", [mm], att, f"{t}_bias", hs, [Param(f"h.{i}.{t}.b", (d,))])
            r = b.add("Reshape", [a], att, f"{t}_split", ("batch", "seq", 12, 64))
            tr = b.add("Transpose", [r], att, f"{t}_heads", ("batch", 12, "seq", 64))
            heads.append(tr)
        q, k, v = heads
        qk = b.add("MatMul", [q, k], att, "scores", ("batch", 12, "seq", "seq"))
        sc = b.add("Div", [qk], att, "scale", ("batch", 12, "seq", "seq"))
        wh = b.add("Where", [sc, m], att, "mask", ("batch", 12, "seq", "seq"))
        sm = b.add("Softmax", [wh], att, "softmax", ("batch", 12, "seq", "seq"))
        av = b.add("MatMul", [sm, v], att, "context", ("batch", 12, "seq", 64))
        ot = b.add("Transpose", [av], att, "merge", ("batch", "seq", 12, 64))
        orr = b.add("Reshape", [ot], att, "merge_heads", hs)
        pm = b.add("MatMul", [orr], att, "c_proj", hs, [Param(f"h.{i}.proj.w", (d, d))])
        pa = b.add("Add", [pm], att, "c_proj_bias", hs, [Param(f"h.{i}.proj.b", (d,))])
        r1 = b.add("Add", [x, pa], blk, "residual_1", hs)
        ln2 = b.add("LayerNormalization", [r1], blk + ("ln_2",) if grouped else (), "ln_2", hs,
                    [Param(f"h.{i}.ln_2.w", (d,)), Param(f"h.{i}.ln_2.b", (d,))])
        f1 = b.add("MatMul", [ln2], mlp, "c_fc", ("batch", "seq", 4 * d),
                   [Param(f"h.{i}.fc.w", (d, 4 * d))])
        f1a = b.add("Add", [f1], mlp, "c_fc_bias", ("batch", "seq", 4 * d),
                    [Param(f"h.{i}.fc.b", (4 * d,))])
        ge = b.add("Gelu", [f1a], mlp, "gelu", ("batch", "seq", 4 * d))
        f2 = b.add("MatMul", [ge], mlp, "c_proj", hs, [Param(f"h.{i}.fc2.w", (4 * d, d))])
        f2a = b.add("Add", [f2], mlp, "c_proj_bias", hs, [Param(f"h.{i}.fc2.b", (d,))])
        x = b.add("Add", [r1, f2a], blk, "residual_2", hs)
    lnf = b.add("LayerNormalization", [x], ("ln_f",) if grouped else (), "ln_f",
                ("batch", "seq", d), [Param("ln_f.w", (d,)), Param("ln_f.b", (d,))])
    head = b.add("MatMul", [lnf], (), "lm_head", ("batch", "seq", 50257),
                 [Param("wte.weight", (50257, d))])
    b.io_out(head)
    return b.g


def resnet(target_n: int, grouped: bool = True) -> Graph:
    """ResNet-50-like bottleneck stages (3:4:6:3 split), ~11 nodes per block."""
    b = _B(f"resnet_{target_n}")
    blocks = max(4, round((target_n - 9) / 11.5))
    per_stage = [max(1, round(blocks * r / 16)) for r in (3, 4, 6, 3)]
    x = b.io_in("image", ("batch", 3, 224, 224))
    stem = ("stem",) if grouped else ()
    x = b.add("Conv", [x], stem, "conv1", ("batch", 64, 112, 112),
              [Param("conv1.w", (64, 3, 7, 7))])
    x = b.add("BatchNormalization", [x], stem, "bn1", ("batch", 64, 112, 112),
              [Param("bn1.w", (64,)), Param("bn1.b", (64,))])
    x = b.add("Relu", [x], stem, "relu", ("batch", 64, 112, 112))
    x = b.add("MaxPool", [x], stem, "maxpool", ("batch", 64, 56, 56))
    ch = 64
    for s, nb in enumerate(per_stage):
        c_out = 256 * 2 ** s
        for i in range(nb):
            blk = (f"layer{s + 1}", str(i)) if grouped else ()
            pre = f"layer{s + 1}.{i}"
            hw = 56 // 2 ** s
            shp = ("batch", c_out, hw, hw)
            y = x
            for j, (k, c) in enumerate(((1, c_out // 4), (3, c_out // 4), (1, c_out))):
                y = b.add("Conv", [y], blk, f"conv{j + 1}", ("batch", c, hw, hw),
                          [Param(f"{pre}.conv{j + 1}", (c, ch if j == 0 else c_out // 4, k, k))])
                y = b.add("BatchNormalization", [y], blk, f"bn{j + 1}", ("batch", c, hw, hw),
                          [Param(f"{pre}.bn{j + 1}.w", (c,)), Param(f"{pre}.bn{j + 1}.b", (c,))])
                if j < 2:
                    y = b.add("Relu", [y], blk, f"relu{j + 1}", ("batch", c, hw, hw))
            if i == 0:
                dsg = blk + ("downsample",) if grouped else ()
                dd = b.add("Conv", [x], dsg, "0", shp, [Param(f"{pre}.ds", (c_out, ch, 1, 1))])
                dd = b.add("BatchNormalization", [dd], dsg, "1", shp,
                           [Param(f"{pre}.ds.bn", (c_out,))])
            else:
                dd = x
            a = b.add("Add", [y, dd], blk, "add", shp)
            x = b.add("Relu", [a], blk, "relu", shp)
            ch = c_out
    x = b.add("GlobalAveragePool", [x], (), "avgpool", ("batch", ch, 1, 1))
    x = b.add("Flatten", [x], (), "flatten", ("batch", ch))
    x = b.add("Gemm", [x], (), "fc", ("batch", 1000), [Param("fc.w", (1000, ch))])
    x = b.add("Softmax", [x], (), "softmax", ("batch", 1000))
    b.io_out(x)
    return b.g


def unet(target_n: int, grouped: bool = True) -> Graph:
    """UNet: encoder stages, bottleneck, decoder stages concatenating the long skips."""
    b = _B(f"unet_{target_n}")
    depth = 4
    convs = max(1, round((target_n - 12) / (depth * 2 * 3 + 3 + depth * 2) / 2))
    x = b.io_in("image", ("batch", 1, 256, 256))
    skips = []
    c = 64
    hw = 256

    def double(x: str, grp: tuple, c: int, hw: int) -> str:
        for j in range(2 * convs):
            x = b.add("Conv", [x], grp, f"conv{j}", ("batch", c, hw, hw),
                      [Param(f"{'/'.join(grp)}.{b.k}.w", (c, c, 3, 3))])
            x = b.add("BatchNormalization", [x], grp, f"bn{j}", ("batch", c, hw, hw))
            x = b.add("Relu", [x], grp, f"relu{j}", ("batch", c, hw, hw))
        return x

    for dlev in range(depth):
        grp = ("encoder", f"down{dlev}") if grouped else ()
        x = double(x, grp, c, hw)
        skips.append(x)
        x = b.add("MaxPool", [x], grp, "pool", ("batch", c, hw // 2, hw // 2))
        c, hw = c * 2, hw // 2
    x = double(x, ("bottleneck",) if grouped else (), c, hw)
    for dlev in reversed(range(depth)):
        grp = ("decoder", f"up{dlev}") if grouped else ()
        c, hw = c // 2, hw * 2
        x = b.add("ConvTranspose", [x], grp, "upconv", ("batch", c, hw, hw))
        x = b.add("Concat", [x, skips[dlev]], grp, "concat", ("batch", 2 * c, hw, hw))
        x = double(x, grp, c, hw)
    x = b.add("Conv", [x], (), "head", ("batch", 2, 256, 256), [Param("head.w", (2, 64, 1, 1))])
    b.io_out(x)
    return b.g


def transformer_local_mask(target_n: int, grouped: bool = True) -> Graph:
    """GPT-2-like with a per-block causal-mask slice instead of one shared mask input."""
    return transformer(target_n, grouped=grouped, shared_mask=False)


FAMILIES = {"transformer": transformer, "resnet": resnet, "unet": unet,
            "gpt_localmask": transformer_local_mask}
