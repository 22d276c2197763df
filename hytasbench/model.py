"""The standalone HyTAS subnet: a SpectralFormer-style transformer built from one architecture.

Layout (docs/model.md): a shared linear patch embedding per band token, a class token and a learned
position embedding, ``depth`` pre-norm blocks (multi-head self-attention and a GELU MLP, both
residual with stochastic depth), cross-layer adaptive fusion (CAF) from block 2 on, and a head
(LayerNorm + Linear) on the class token.

Parameter counts and FLOPs from the shapes alone live in the torch-free :mod:`hytasbench.costs`
(FLOP convention there) and are re-exported here.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .costs import (SPATIAL_PATCH, ModelConfig, analytic_params, config_for, count_flops,  # noqa: F401
                    hytas_reported_flops, spectralformer_config, vit_config)
from .errors import InvalidProtocolError
from .space import Arch, ArchLike, parse

#: Stochastic depth grows linearly over this many block positions (the supernet's 10 layers).
DROP_PATH_POSITIONS = 10
#: Patch-embedding inits: ours (truncated normal 0.02, zero bias), or PyTorch's default Linear init
#: (U(+-1/sqrt(fan_in)) for weight and bias), which draws as upstream's default-initialised
#: Conv2d patch embedding (the training switch ``embed-init``).
EMBED_INITS = ("trunc-normal", "default")


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop a residual branch per sample, rescale the kept ones (no in-place)."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class Attention(nn.Module):
    """Multi-head self-attention; ``fused`` picks scaled_dot_product_attention (fast, but its CPU and
    flash kernels have no double backward) over the explicit softmax(QK^T)V form (GraSP-safe)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        inner = heads * self.head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)
        self.fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = torch.softmax((q * self.head_dim ** -0.5) @ k.transpose(-2, -1), dim=-1)
            out = attn @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, drop_path: float, qkv_bias: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class CAF(nn.Module):
    """Cross-layer adaptive fusion: SpectralFormer's Conv2d(tokens, tokens, kernel (1,2)) over the
    stacked pair (current input, input two blocks back), evaluated as two matmuls (about twice
    as fast as the convolution on CPU). Parameters have the Conv2d's shapes and default init."""

    def __init__(self, tokens: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(tokens, tokens, 1, 2))
        self.bias = nn.Parameter(torch.empty(tokens))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(2 * tokens)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, earlier: torch.Tensor) -> torch.Tensor:
        return self.weight[:, :, 0, 0] @ x + self.weight[:, :, 0, 1] @ earlier + self.bias[:, None]


class SubNet(nn.Module):
    """One subnet; forward takes (B, bands, 49*band_patch) tokens and returns (B, classes) logits."""

    def __init__(self, config: ModelConfig, drop_path: float = 0.1, arch: Optional[Arch] = None,
                 embed_init: str = "trunc-normal"):
        super().__init__()
        if embed_init not in EMBED_INITS:
            raise InvalidProtocolError(f"embed_init {embed_init!r}", EMBED_INITS)
        c = config
        self.config, self.arch, self.embed_init = c, arch, embed_init
        self.patch_embed = nn.Linear(c.patch_dim, c.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, c.tokens, c.embed_dim))
        rates = [drop_path * i / (DROP_PATH_POSITIONS - 1) for i in range(DROP_PATH_POSITIONS)]
        self.blocks = nn.ModuleList(Block(c.embed_dim, c.num_heads[i], c.mlp_hidden[i], rates[i], c.qkv_bias)
                                    for i in range(c.depth))
        self.fusions = nn.ModuleList(CAF(c.tokens) for _ in range(c.num_fusions))
        self.norm = nn.LayerNorm(c.embed_dim)
        self.head = nn.Linear(c.embed_dim, c.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear) and not (m is self.patch_embed and self.embed_init == "default"):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_fused_attention(self, fused: bool) -> "SubNet":
        """Use the fused attention kernel (training) or the double-backward-safe form (default)."""
        for blk in self.blocks:
            blk.attn.fused = fused
        return self

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Input tokens from samples (B, bands, 49 * band_patch): as given for band tokens; for
        pixel tokens (plain ViT) the centre band of each group, transposed to (B, 49, bands)."""
        if self.config.tokens_from != "pixels":
            return x
        area = SPATIAL_PATCH * SPATIAL_PATCH
        centre = self.config.band_patch // 2
        return x[:, :, centre * area:(centre + 1) * area].transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(self.tokens(x))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        inputs: List[torch.Tensor] = []
        for i in range(self.config.positions):
            inputs.append(x)  # the unfused input, as upstream
            if 2 <= i < len(self.fusions) + 2:
                x = self.fusions[i - 2](x, inputs[i - 2])
            if i < len(self.blocks):  # positions past the depth are upstream's identity blocks
                x = self.blocks[i](x)
        return self.head(self.norm(x[:, 0]))


def build_model(arch: ArchLike, bands: int, num_classes: int, band_patch: int, drop_path: float = 0.1,
                fusions: Optional[int] = None, embed_init: str = "trunc-normal") -> SubNet:
    """The subnet of an architecture of the space (id, string, dict or Arch), freshly initialised;
    ``fusions=8`` runs CAF as upstream's supernet did (see ModelConfig.fusions), ``embed_init``
    picks the patch embedding's init (EMBED_INITS)."""
    a = parse(arch)
    return SubNet(config_for(a, bands, num_classes, band_patch, fusions), drop_path, a, embed_init)


def build_model_for(arch: ArchLike, dataset: str, drop_path: float = 0.1) -> SubNet:
    from .datasets import get_spec
    s = get_spec(dataset)
    return build_model(arch, s.bands, s.num_classes, s.band_patch, drop_path)


def spectralformer_reference(bands: int, num_classes: int, band_patch: int, drop_path: float = 0.1) -> SubNet:
    return SubNet(spectralformer_config(bands, num_classes, band_patch), drop_path)


def vit_reference(bands: int, num_classes: int, band_patch: int, drop_path: float = 0.1) -> SubNet:
    """The plain ViT reference (the paper's other reference system): pixel tokens of the 7x7
    neighbourhood, no group-wise spectral embedding, no CAF; SpectralFormer's size (vit_config)."""
    return SubNet(vit_config(bands, num_classes, band_patch), drop_path)


def scored_layers(model: SubNet) -> List[Tuple[str, nn.Linear, str]]:
    """The Linear layers the zero-cost proxies score, in forward order, with their kind:
    'embed' (patch_embed), 'attn' (qkv, proj), 'mlp' (fc1, fc2), 'head'."""
    out: List[Tuple[str, nn.Linear, str]] = [("patch_embed", model.patch_embed, "embed")]
    for i, blk in enumerate(model.blocks):
        out += [(f"blocks.{i}.attn.qkv", blk.attn.qkv, "attn"), (f"blocks.{i}.attn.proj", blk.attn.proj, "attn"),
                (f"blocks.{i}.mlp.fc1", blk.mlp.fc1, "mlp"), (f"blocks.{i}.mlp.fc2", blk.mlp.fc2, "mlp")]
    out.append(("head", model.head, "head"))
    return out


def count_params(model: nn.Module) -> int:
    """Exact number of parameters of a built model."""
    return sum(p.numel() for p in model.parameters())
