"""The two models: a fastText-style classifier and a tiny byte-level causal transformer.

Both are saved as safetensors (no pickle: loading cannot run code) beside a JSON config.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from curate.errors import InputError
from train.config import check_safetensors

MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"
FORMAT = "winnow-model/1"


class BagClassifier(nn.Module):
    """fastText's model (Joulin et al., 2016): a bag of hashed n-gram embeddings, then one linear
    layer. The bag is weighted by sublinear tf x idf (idf learned on the training set, kept in
    the model) rather than a plain mean, so frequent words do not drown the informative ones."""

    def __init__(self, buckets: int, dim: int, classes: int, init_scale: float = 0.1):
        super().__init__()
        # The n-gram table starts at zero (torch.zeros: a memset, where drawing 64M random
        # numbers takes a second) and the output layer small and random: fastText's choice
        # mirrored, so that the first step already moves the rows it touches.
        self.embedding = nn.EmbeddingBag(
            buckets, dim, mode="sum", _weight=torch.zeros(buckets, dim)
        )
        self.linear = nn.Linear(dim, classes)
        self.register_buffer("idf", torch.ones(buckets))
        nn.init.normal_(self.linear.weight, 0.0, init_scale)
        nn.init.zeros_(self.linear.bias)

    def forward(
        self, indices: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        return self.linear(self.embedding(indices, offsets, per_sample_weights=weights))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))


class ByteLM(nn.Module):
    """A nanoGPT-shaped causal transformer over bytes (vocabulary 256)."""

    def __init__(self, dim: int, layers: int, heads: int, context: int):
        super().__init__()
        self.tok = nn.Embedding(256, dim)
        self.pos = nn.Embedding(context, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 256, bias=False)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h))


def build(config: dict) -> nn.Module:
    if config["task"] == "classify":
        return BagClassifier(config["features"]["buckets"], config["dim"], len(config["classes"]))
    lm = config["lm"]
    return ByteLM(config["dim"], lm["layers"], lm["heads"], lm["context"])


def save(model: nn.Module, config: dict, folder: Path) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / MODEL_FILE), metadata={"format": FORMAT})
    (folder / CONFIG_FILE).write_text(json.dumps({"format": FORMAT, **config}, indent=2) + "\n")


def load(folder: Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """The model and its config. Only safetensors is read: a pickle (e.g. a torch.save file
    renamed) is refused, never unpickled."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / MODEL_FILE).is_file():
        raise InputError(
            f"not a winnow model folder (needs {CONFIG_FILE} and {MODEL_FILE})", folder
        )
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except ValueError as e:
        raise InputError(f"unreadable model config ({e})", folder / CONFIG_FILE) from e
    if config.get("format") != FORMAT:
        raise InputError(f"model format is not {FORMAT}", folder / CONFIG_FILE)
    check_safetensors(folder / MODEL_FILE)
    try:
        tensors = load_file(str(folder / MODEL_FILE), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(
            f"not a safetensors file ({str(e).splitlines()[0]}); pickled weights are refused",
            folder / MODEL_FILE,
        ) from e
    model = build(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise InputError(
            f"weights do not match the config ({str(e).splitlines()[0]})", folder
        ) from e
    return model.to(device).eval(), config
