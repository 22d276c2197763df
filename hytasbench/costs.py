"""Exact parameter counts and FLOPs of HyTAS subnets from their shapes alone (torch-free).

FLOP convention (:func:`count_flops`): forward pass of one sample; a multiply-accumulate of a
Linear, of the attention matmuls (Q.K^T and A.V) or of a CAF fusion counts as 2 FLOPs; bias adds,
LayerNorm, softmax, GELU, residual adds and stochastic depth are not counted. This is the
convention of ``torch.utils.flop_counter``, which the tests check it against on built models.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from .errors import InvalidArgumentError
from .space import ArchLike, parse

#: SpectralFormer's hand-made configuration (Hong et al. 2022) for Indian Pines and friends.
SPECTRALFORMER_EMBED, SPECTRALFORMER_DEPTH, SPECTRALFORMER_HEADS, SPECTRALFORMER_HIDDEN = 64, 5, 4, 8
SPATIAL_PATCH = 7
#: The HyTAS authors' FLOPs treat the input as 7x7 = 49 tokens (see hytas_reported_flops).
_HYTAS_SEQ = SPATIAL_PATCH * SPATIAL_PATCH


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a subnet's shapes; the analytic counts are functions of it."""

    embed_dim: int
    num_heads: Tuple[int, ...]
    mlp_hidden: Tuple[int, ...]
    bands: int
    num_classes: int
    band_patch: int
    qkv_bias: bool = True
    #: CAF fusions: None = one per block from index 2 on (depth - 2, ours); upstream's supernet ran
    #: 8 whatever the depth (the extra ones between identity blocks); 0 = none (plain ViT).
    fusions: Optional[int] = None
    #: "bands": one token per band holding its group-wise 7x7 patch (SpectralFormer, HyTAS);
    #: "pixels": one token per pixel of the 7x7 neighbourhood holding its spectrum (plain ViT).
    tokens_from: str = "bands"

    @property
    def depth(self) -> int:
        return len(self.num_heads)

    @property
    def num_fusions(self) -> int:
        return max(self.depth - 2, 0) if self.fusions is None else self.fusions

    @property
    def positions(self) -> int:
        """Block positions the forward pass walks: the blocks, then identity positions that only
        fuse (upstream's 10-layer supernet with fewer active blocks)."""
        return max(self.depth, self.num_fusions + 2 if self.num_fusions else 0)

    @property
    def input_tokens(self) -> int:
        return SPATIAL_PATCH * SPATIAL_PATCH if self.tokens_from == "pixels" else self.bands

    @property
    def tokens(self) -> int:
        return self.input_tokens + 1

    @property
    def patch_dim(self) -> int:
        return self.bands if self.tokens_from == "pixels" else SPATIAL_PATCH * SPATIAL_PATCH * self.band_patch

    def inner_dim(self, i: int) -> int:
        """Width of block i's attention: heads of size embed_dim // heads (may be < embed_dim)."""
        return self.num_heads[i] * (self.embed_dim // self.num_heads[i])


def config_for(arch: ArchLike, bands: int, num_classes: int, band_patch: int,
               fusions: Optional[int] = None) -> ModelConfig:
    a = parse(arch)
    return ModelConfig(a.embed_dim, a.num_heads, tuple(int(a.embed_dim * r) for r in a.mlp_ratio),
                       bands, num_classes, band_patch, fusions=fusions)


def spectralformer_config(bands: int, num_classes: int, band_patch: int) -> ModelConfig:
    """SpectralFormer's own configuration: embed 64, depth 5, 4 heads of 16, MLP hidden 8, and
    (as in its code) no bias on the qkv projection. Not a member of the space (hidden 8 = ratio 1/8)."""
    return ModelConfig(SPECTRALFORMER_EMBED, (SPECTRALFORMER_HEADS,) * SPECTRALFORMER_DEPTH,
                       (SPECTRALFORMER_HIDDEN,) * SPECTRALFORMER_DEPTH, bands, num_classes, band_patch,
                       qkv_bias=False)


def vit_config(bands: int, num_classes: int, band_patch: int) -> ModelConfig:
    """A plain ViT of SpectralFormer's size (embed 64, depth 5, 4 heads, MLP hidden 8, no qkv bias):
    49 pixel tokens of the 7x7 neighbourhood, each its full spectrum, no CAF. Only the tokens and
    the fusion differ from :func:`spectralformer_config`, so the two isolate what they add."""
    return ModelConfig(SPECTRALFORMER_EMBED, (SPECTRALFORMER_HEADS,) * SPECTRALFORMER_DEPTH,
                       (SPECTRALFORMER_HIDDEN,) * SPECTRALFORMER_DEPTH, bands, num_classes, band_patch,
                       qkv_bias=False, fusions=0, tokens_from="pixels")


ConfigLike = Union[ArchLike, ModelConfig, Any]  # Any: a built SubNet (has .config)


def _resolve(arch: ConfigLike, bands: Optional[int], num_classes: Optional[int],
             band_patch: Optional[int]) -> ModelConfig:
    if isinstance(getattr(arch, "config", None), ModelConfig):  # a built SubNet
        return arch.config
    if isinstance(arch, ModelConfig):
        return arch
    if bands is None or num_classes is None or band_patch is None:
        raise InvalidArgumentError("bands, num_classes and band_patch are needed for an architecture")
    return config_for(arch, bands, num_classes, band_patch)


def analytic_params(arch: ConfigLike, bands: Optional[int] = None, num_classes: Optional[int] = None,
                    band_patch: Optional[int] = None, fusion: bool = True) -> int:
    """Parameter count from the shapes alone. ``fusion=False`` leaves out the CAF convolutions,
    which is what the HyTAS authors' ``num_params_subnet`` column counts."""
    c = _resolve(arch, bands, num_classes, band_patch)
    e, n = c.embed_dim, c.tokens
    total = c.patch_dim * e + e + e + n * e  # patch embed, class token, position embedding
    for i in range(c.depth):
        inner, hidden = c.inner_dim(i), c.mlp_hidden[i]
        total += 2 * e + e * 3 * inner + (3 * inner if c.qkv_bias else 0) + inner * e + e  # norm1, attn
        total += 2 * e + e * hidden + hidden + hidden * e + e  # norm2, mlp
    total += 2 * e + e * c.num_classes + c.num_classes
    if fusion:
        total += c.num_fusions * (2 * n * n + n)
    return total


def count_flops(arch: ConfigLike, bands: Optional[int] = None, num_classes: Optional[int] = None,
                band_patch: Optional[int] = None) -> int:
    """Forward FLOPs of one sample (2 per multiply-accumulate; see the module docstring)."""
    c = _resolve(arch, bands, num_classes, band_patch)
    e, n = c.embed_dim, c.tokens
    macs = c.input_tokens * c.patch_dim * e
    for i in range(c.depth):
        inner, hidden = c.inner_dim(i), c.mlp_hidden[i]
        macs += n * (e * 3 * inner + inner * e + 2 * e * hidden) + 2 * n * n * inner
    macs += c.num_fusions * 2 * n * n * e
    macs += e * c.num_classes
    return 2 * macs


def hytas_reported_flops(arch: ArchLike, num_classes: int) -> int:
    """The number in the HyTAS authors' ``flops`` columns, reproduced exactly for all their rows.

    It is AutoFormer's complexity formula with the sequence length of a 7x7 image cut into 1x1
    patches (49 tokens) instead of the bands+1 tokens the model really has, counting
    multiply-accumulates of the blocks' Linears and attention, without CAF:
    49 * sum_i(3*e*a_i + a_i*e + 2*e*m_i) + 2 * 49^2 * sum_i a_i - 7 * classes * e
    (a_i attention width, m_i MLP hidden). It does not depend on the bands. For comparisons with
    the authors' tables only; :func:`count_flops` is the real cost.
    """
    c = config_for(arch, 1, num_classes, 1)
    e, t = c.embed_dim, _HYTAS_SEQ
    linear = sum(4 * e * c.inner_dim(i) + 2 * e * c.mlp_hidden[i] for i in range(c.depth))
    return t * linear + 2 * t * t * sum(c.inner_dim(i) for i in range(c.depth)) - 7 * num_classes * e
