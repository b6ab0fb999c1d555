"""Small real models for the view/label tests, built from code with random weights (nothing
downloaded): a torchvision-style ResNet-18 written out by hand (torchvision's compiled ops do
not load with the CPU torch build used here) and Hugging Face models from small configs."""

from __future__ import annotations

import pytest


def resnet18():
    """torchvision's resnet18 layout: conv1/bn1/relu/maxpool, layer1..4 of two BasicBlocks
    (the first of layer2..4 with a downsample), avgpool, fc. 11,689,512 parameters."""
    torch = pytest.importorskip("torch", reason="ResNet-18 is a torch model")
    nn = torch.nn

    from shared_models import BasicBlock

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
            self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
            self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
            self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(0)
    return ResNet18().eval(), torch.randn(1, 3, 64, 64)


def gpt2(layers: int = 12):
    """GPT2LMHeadModel from a small config (the real block structure, tiny widths)."""
    torch = pytest.importorskip("torch", reason="GPT-2 is a torch model")
    transformers = pytest.importorskip("transformers", reason="GPT-2 comes from transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=layers, n_embd=64, n_head=4, vocab_size=1000,
                                  n_positions=64, use_cache=False)
    return transformers.GPT2LMHeadModel(cfg).eval(), torch.randint(0, 1000, (1, 16))


def t5():
    """T5Model (encoder + decoder, 6 blocks each) from a small config, called with
    input_ids and decoder_input_ids."""
    torch = pytest.importorskip("torch", reason="T5 is a torch model")
    transformers = pytest.importorskip("transformers", reason="T5 comes from transformers")
    torch.manual_seed(0)
    cfg = transformers.T5Config(d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=6,
                                vocab_size=1000, use_cache=False)
    model = transformers.T5Model(cfg).eval()

    class Seq2Seq(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, ids, dec_ids):
            return self.m(input_ids=ids, decoder_input_ids=dec_ids).last_hidden_state

    ids = torch.randint(0, 1000, (1, 8))
    return Seq2Seq(model).eval(), (ids, ids)


def causal_encoder():
    """nn.TransformerEncoder (6 layers) under a causal mask, between an embedding and a head."""
    torch = pytest.importorskip("torch", reason="a torch model")
    nn = torch.nn

    class CausalEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(100, 64)
            layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
            self.head = nn.Linear(64, 100)

        def forward(self, ids):
            mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1])
            return self.head(self.enc(self.emb(ids), mask=mask, is_causal=True))

    torch.manual_seed(0)
    return CausalEncoder().eval(), torch.randint(0, 100, (1, 16))


def llama():
    """LlamaForCausalLM (4 decoder layers, grouped-query attention) from a small config."""
    torch = pytest.importorskip("torch", reason="Llama is a torch model")
    transformers = pytest.importorskip("transformers", reason="Llama comes from transformers")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                                   num_attention_heads=4, num_key_value_heads=2,
                                   vocab_size=1000, use_cache=False)
    return transformers.LlamaForCausalLM(cfg).eval(), torch.randint(0, 1000, (1, 16))
