"""A real transformer export for the viewer benchmark: a GPT-2-style torch model (pre-norm
blocks with nn.MultiheadAttention, GELU MLP) exported to ONNX by torch.onnx.export."""

from __future__ import annotations

from pathlib import Path


def export_gpt(path: Path, layers: int = 12, d: int = 256, heads: int = 8, vocab: int = 5000,
               ctx: int = 128) -> Path:
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.ln_2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x, mask):
            h = self.ln_1(x)
            a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
            x = x + a
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab, d)
            self.wpe = nn.Embedding(ctx, d)
            self.h = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(d)
            self.lm_head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            t = idx.shape[1]
            mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
            x = self.wte(idx) + self.wpe(torch.arange(t))
            for block in self.h:
                x = block(x, mask)
            return self.lm_head(self.ln_f(x))

    torch.manual_seed(0)
    model = GPT().eval()
    torch.onnx.export(model, (torch.zeros(1, 16, dtype=torch.long),), str(path), dynamo=False,
                      input_names=["idx"], output_names=["logits"], opset_version=17)
    return path
