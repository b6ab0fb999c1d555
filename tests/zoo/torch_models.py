"""PyTorch zoo members: hand-written torchvision-style CNNs, small transformers-library models
from configs, and small nets that exercise one structural feature each.

Everything is built with random weights (seeded) from code or configs: nothing is downloaded.
torchvision's compiled ops do not load with the CPU torch build here, so ResNet-18,
MobileNetV2 and the UNet are written out by hand with torchvision's module names and shapes
(ResNet-18 has exactly torchvision's 11,689,512 parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

Example = tuple[Any, ...]  # positional example inputs


# ---- torchvision-style CNNs -----------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)  # called twice per block, as in torchvision
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(64, 2)
        self.layer2 = self._layer(128, 2, 2)
        self.layer3 = self._layer(256, 2, 2)
        self.layer4 = self._layer(512, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, 1))
        layers += [ConvBNReLU(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (width 1.0): 3,504,872 parameters."""

    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        cin = 32
        feats: list[nn.Module] = [ConvBNReLU(3, cin, stride=2)]
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                feats.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        feats.append(ConvBNReLU(cin, 1280, 1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Down(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(cin, cout))


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """The classic UNet (milesial layout), 4 levels, narrow channels."""

    def __init__(self, cin: int = 3, classes: int = 2, base: int = 8) -> None:
        super().__init__()
        b = base
        self.inc = DoubleConv(cin, b)
        self.down1, self.down2 = Down(b, 2 * b), Down(2 * b, 4 * b)
        self.down3, self.down4 = Down(4 * b, 8 * b), Down(8 * b, 16 * b)
        self.up1, self.up2 = Up(16 * b, 8 * b), Up(8 * b, 4 * b)
        self.up3, self.up4 = Up(4 * b, 2 * b), Up(2 * b, b)
        self.outc = nn.Conv2d(b, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.outc(self.up4(x, x1))


# ---- small nets with one structural feature each ----------------------------------------------
class CausalEncoder(nn.Module):
    """nn.TransformerEncoder (6 layers) with a causal mask built in forward (a non-persistent
    buffer would be the other common way; here it is a computed mask)."""

    def __init__(self, vocab: int = 100, d: int = 32, layers: int = 6) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n = ids.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(n, device=ids.device)
        return self.head(self.encoder(self.embed(ids), mask=mask, is_causal=True))


class LSTMTagger(nn.Module):
    def __init__(self, vocab: int = 100, d: int = 32, hidden: int = 48, tags: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, tags)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))
        return self.head(out)


class RepeatedCalls(nn.Module):
    """``x = x + a(x)`` three times: one module called three times in sequence."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.a = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.a(x)
        x = x + self.a(x)
        return x + self.a(x)


# ---- transformers-library models from small configs ------------------------------------------
def _hf() -> Any:
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


def _ids(n: int = 16, vocab: int = 1000) -> torch.Tensor:
    return torch.randint(0, vocab, (1, n), generator=torch.Generator().manual_seed(1))


def gpt2() -> tuple[nn.Module, Example]:
    t = _hf()
    cfg = t.GPT2Config(n_layer=3, n_embd=64, n_head=4, vocab_size=1000, n_positions=64,
                       use_cache=False)
    return t.GPT2LMHeadModel(cfg), (_ids(),)


def bert() -> tuple[nn.Module, Example]:
    t = _hf()
    cfg = t.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128, max_position_embeddings=64)
    return t.BertModel(cfg), (_ids(),)


def llama() -> tuple[nn.Module, Example]:
    t = _hf()
    cfg = t.LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        max_position_embeddings=64, use_cache=False)
    return t.LlamaForCausalLM(cfg), (_ids(),)


def vit() -> tuple[nn.Module, Example]:
    t = _hf()
    cfg = t.ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=128)
    return t.ViTModel(cfg, add_pooling_layer=True), (torch.randn(1, 3, 32, 32),)


def t5() -> tuple[nn.Module, Example]:
    t = _hf()
    cfg = t.T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                     num_decoder_layers=2, num_heads=4, use_cache=False,
                     decoder_start_token_id=0)
    return t.T5ForConditionalGeneration(cfg), (_ids(12), None, _ids(8))


def clip() -> tuple[nn.Module, Example]:
    t = _hf()
    text = dict(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=32)
    vision = dict(image_size=32, patch_size=8, hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4)
    cfg = t.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
    return t.CLIPModel(cfg), (_ids(12), torch.randn(1, 3, 32, 32))


def _cnn(cls: type[nn.Module], *shape: int) -> Callable[[], tuple[nn.Module, Example]]:
    def build() -> tuple[nn.Module, Example]:
        return cls(), (torch.randn(*shape),)
    return build


def _seq(cls: type[nn.Module], n: int = 12) -> Callable[[], tuple[nn.Module, Example]]:
    def build() -> tuple[nn.Module, Example]:
        return cls(), (_ids(n, 100),)
    return build


BUILDERS: dict[str, Callable[[], tuple[nn.Module, Example]]] = {
    "resnet18": _cnn(ResNet18, 1, 3, 64, 64),
    "mobilenet_v2": _cnn(MobileNetV2, 1, 3, 64, 64),
    "unet": _cnn(UNet, 1, 3, 64, 64),
    "causal_encoder": _seq(CausalEncoder),
    "lstm": _seq(LSTMTagger),
    "repeated_calls": lambda: (RepeatedCalls(), (torch.randn(2, 16),)),
    "gpt2": gpt2,
    "bert": bert,
    "llama": llama,
    "vit": vit,
    "t5": t5,
    "clip": clip,
}


def build(name: str) -> tuple[nn.Module, Example]:
    """The model in eval mode with seeded random weights, and its example inputs."""
    torch.manual_seed(0)
    model, example = BUILDERS[name]()
    randomize(model, 0)
    return model.eval(), example


@torch.no_grad()
def randomize(model: nn.Module, seed: int) -> None:
    """Distinct random values in every parameter and BatchNorm statistic, like a trained model.

    Fresh initialisations are full of identical tensors (LayerNorm ones, zero biases, identity
    BatchNorms) that exporters deduplicate or fold away by value, so a file exported from an
    untrained model holds fewer weights than the architecture has. Tied parameters stay tied
    (``parameters()`` yields a shared tensor once).
    """
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    for name, b in model.named_buffers():
        if not b.is_floating_point():
            continue
        if name.endswith("running_var"):
            b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
        elif name.endswith("running_mean"):
            b.copy_(torch.randn(b.shape, generator=gen) * 0.1)


def param_count(model: nn.Module) -> int:
    """The framework's own count: ``parameters()`` (tied weights once), no buffers."""
    return sum(p.numel() for p in model.parameters())


def buffer_count(model: nn.Module) -> int:
    return sum(b.numel() for b in model.buffers())
