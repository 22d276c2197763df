"""Upstream's shared start, emulated: every weight of a subnet a slice of one supernet-shaped draw.

The HyTAS authors built each subnet by slicing one supernet (embed 360, MLP ratio 6, 10 layers:
the ``SUPERNET`` of every ``experiments/config2000/configspace-hyper2-<id>.yaml`` that their
retraining script reads, at the pinned commit), created after seeding torch with the run's seed
(nothing that depends on the architecture draws in between, and DDP gives every GPU rank 0's
weights). So at one seed every architecture starts from slices of the
same tensors: two subnets of the same width share their patch embedding, class and position
embeddings, CAF fusions and head exactly, and their attention and MLP weights are nested slices.
Our subnets are standalone modules (docs/model.md); this module only gives one such a start (the
training switch ``shared-init``), for the question whether that sharing is what makes the
published OA of networks of one width so uniform (docs/training.md).

The slices are upstream's: the leading rows and columns of each super weight, except qkv, whose
q, k and v rows are every third row of the super weight, from rows 0, 1 and 2
(``qkv_super.sample_weight``). The values are drawn by us, in our order, from a generator seeded
with the seed: this emulates the sharing and the distributions, not upstream's numbers.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .errors import InvalidProtocolError
from .model import SubNet

#: Upstream's supernet: embed width, MLP ratio, layers (the space's maxima are 240, 6 and 10).
SUPER_EMBED, SUPER_MLP_RATIO, SUPER_DEPTH = 360, 6, 10
#: CAF fusions of the supernet (one per layer from index 2 on).
SUPER_FUSIONS = SUPER_DEPTH - 2


class _Draws:
    """Tensors drawn in call order from one generator, with the distributions SubNet uses."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def trunc(self, *shape: int) -> torch.Tensor:
        return nn.init.trunc_normal_(torch.empty(shape), std=0.02, generator=self.g)

    def default(self, *shape: int) -> torch.Tensor:
        """PyTorch's default init of a Linear or Conv2d weight: U(+-1/sqrt(fan_in))."""
        return nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5), generator=self.g)

    def bias(self, n: int, fan_in: int) -> torch.Tensor:
        """PyTorch's default init of a Linear or Conv2d bias: U(+-1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(fan_in)
        return nn.init.uniform_(torch.empty(n), -bound, bound, generator=self.g)


def check_supernet_slice(model: SubNet) -> None:
    """Refuse a model that is not a slice of upstream's supernet (the references, a wider net)."""
    c = model.config
    fits = (c.tokens_from == "bands" and c.qkv_bias and c.embed_dim <= SUPER_EMBED and c.depth <= SUPER_DEPTH
            and c.num_fusions <= SUPER_FUSIONS and max(c.mlp_hidden) <= SUPER_MLP_RATIO * SUPER_EMBED)
    if not fits:
        raise InvalidProtocolError(
            f"the shared-init switch needs a slice of upstream's supernet, not a model of embed {c.embed_dim}, "
            f"depth {c.depth}, tokens from {c.tokens_from}", ("HyTAS subnets (the space's architectures)",))


@torch.no_grad()
def init_from_supernet(model: SubNet, seed: int) -> SubNet:
    """Set every parameter of ``model`` to its slice of the supernet drawn with ``seed``.

    The draw order is fixed and does not depend on the architecture (all 10 layers and 8 fusions
    are drawn whatever the depth), so models of one seed share what upstream's would. The
    distributions are those of :class:`SubNet` (truncated normal 0.02 for Linear weights, class
    and position embeddings; zero biases; CAF at the Conv2d default), the patch embedding's
    following ``model.embed_init`` (``"default"``: upstream's Conv2d default, bias included)."""
    check_supernet_slice(model)
    c, e = model.config, model.config.embed_dim
    d = _Draws(seed)
    hidden = SUPER_MLP_RATIO * SUPER_EMBED
    if model.embed_init == "default":
        embed_w, embed_b = d.default(SUPER_EMBED, c.patch_dim), d.bias(SUPER_EMBED, c.patch_dim)
    else:
        embed_w, embed_b = d.trunc(SUPER_EMBED, c.patch_dim), torch.zeros(SUPER_EMBED)
    cls, pos = d.trunc(1, 1, SUPER_EMBED), d.trunc(1, c.tokens, SUPER_EMBED)
    layers = [(d.trunc(3 * SUPER_EMBED, SUPER_EMBED), d.trunc(SUPER_EMBED, SUPER_EMBED),
               d.trunc(hidden, SUPER_EMBED), d.trunc(SUPER_EMBED, hidden)) for _ in range(SUPER_DEPTH)]
    fusions = [(d.default(c.tokens, c.tokens, 1, 2), d.bias(c.tokens, 2 * c.tokens)) for _ in range(SUPER_FUSIONS)]
    head = d.trunc(c.num_classes, SUPER_EMBED)

    model.patch_embed.weight.copy_(embed_w[:e])
    model.patch_embed.bias.copy_(embed_b[:e])
    model.cls_token.copy_(cls[..., :e])
    model.pos_embed.copy_(pos[..., :e])
    for i, blk in enumerate(model.blocks):
        qkv, proj, fc1, fc2 = layers[i]
        inner, width = c.inner_dim(i), c.mlp_hidden[i]
        blk.attn.qkv.weight.copy_(torch.cat([qkv[j:3 * inner:3, :e] for j in range(3)]))
        blk.attn.proj.weight.copy_(proj[:e, :inner])
        blk.mlp.fc1.weight.copy_(fc1[:width, :e])
        blk.mlp.fc2.weight.copy_(fc2[:e, :width])
        for lin in (blk.attn.qkv, blk.attn.proj, blk.mlp.fc1, blk.mlp.fc2):
            lin.bias.zero_()
        for norm in (blk.norm1, blk.norm2):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
    for caf, (w, b) in zip(model.fusions, fusions):
        caf.weight.copy_(w)
        caf.bias.copy_(b)
    model.norm.weight.fill_(1.0)
    model.norm.bias.zero_()
    model.head.weight.copy_(head[:, :e])
    model.head.bias.zero_()
    return model
