"""Real PyTorch architectures for the loader tests, written here (torchvision's compiled ops do
not load with the CPU torch build used here) and built with random weights: nothing is
downloaded. Transformers models come from tiny configs of the real classes.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import nn

# ResNet-18 by PyTorch's own count: sum(p.numel() for p in model.parameters()), which is
# torchinfo's and the papers' number; the 20 BatchNorms add 9,600 running statistics and 20
# num_batches_tracked counters as buffers.
RESNET18_PARAMS = 11_689_512
RESNET18_BUFFERS = 9_620


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock: one ReLU module called twice, in-place ops."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet with BasicBlocks; ``width=64, classes=1000`` is
    ResNet-18 exactly (same module names, so the same parameter names)."""

    def __init__(self, layers: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000,
                 width: int = 64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], 2)
        self.layer3 = self._make_layer(width * 4, layers[2], 2)
        self.layer4 = self._make_layer(width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(**kw: Any) -> ResNet:
    return ResNet((2, 2, 2, 2), **kw)


class CausalEncoder(nn.Module):
    """nn.TransformerEncoder with a causal mask held in a non-persistent buffer (the way
    language models keep their mask), and a frozen embedding."""

    def __init__(self, vocab: int = 100, d: int = 16, layers: int = 2, ctx: int = 64):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.emb.weight.requires_grad_(False)  # frozen: a parameter, not trainable
        layer = nn.TransformerEncoderLayer(d, 2, 2 * d, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(ctx),
                             persistent=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        # is_causal=False: the mask is applied as given (with None, the encoder compares the
        # mask's values to a causal one, which torch.export cannot trace).
        return self.head(self.encoder(self.emb(tokens), mask=self.causal_mask[:n, :n],
                                      is_causal=False))


def _quiet_transformers() -> Any:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


def gpt2(layers: int = 2) -> nn.Module:
    t = _quiet_transformers()
    cfg = t.GPT2Config(n_layer=layers, n_embd=32, n_head=4, vocab_size=128, n_positions=32,
                       bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return t.GPT2LMHeadModel(cfg).eval()


def bert(layers: int = 2) -> nn.Module:
    t = _quiet_transformers()
    cfg = t.BertConfig(num_hidden_layers=layers, hidden_size=32, num_attention_heads=4,
                       intermediate_size=64, vocab_size=128, max_position_embeddings=32)
    torch.manual_seed(0)
    return t.BertModel(cfg).eval()


def llama(layers: int = 2) -> nn.Module:
    t = _quiet_transformers()
    cfg = t.LlamaConfig(num_hidden_layers=layers, hidden_size=32, num_attention_heads=4,
                        num_key_value_heads=2, intermediate_size=64, vocab_size=128,
                        max_position_embeddings=32)
    torch.manual_seed(0)
    return t.LlamaForCausalLM(cfg).eval()


def export_hf(model: nn.Module, seq: int = 8) -> Any:
    """torch.export of a transformers model the way users do it (no KV cache)."""
    ids = torch.zeros(1, seq, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(model, (ids,), {"use_cache": False}, strict=False)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def buffer_count(model: nn.Module) -> int:
    return sum(b.numel() for b in model.buffers())
