"""One tiny configuration of every layer in `zoo.layers.ATTENTION_LAYERS`, for the test suite.

A case says how to build the layer, the input shape it takes (batch first), the output shape
it gives, and which bad input it must refuse. Shapes are kept tiny so that the whole
parametrized suite runs in a few minutes on one core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import zoo.layers as L

IMG = (2, 8, 8, 16)
TOK = (2, 16, 16)


@dataclass
class Case:
    make: Callable
    shape: tuple                       # input shape, batch first
    out: tuple | None = None           # output shape (None: the input's)
    channels_checked: bool = True      # a wrong channel count must raise
    fixed_hw: bool = False             # H (or the token count) is part of the configuration
    deploy: bool = False               # has fuse()/to_deploy()
    ranks: tuple | None = None         # accepted input ranks (None: the case's own)
    extra: dict = field(default_factory=dict)

    @property
    def accepted_ranks(self):
        return self.ranks or (len(self.shape),)

    @property
    def out_shape(self):
        return self.out or self.shape


CASES: dict[str, Case] = {
    "ExternalAttention": Case(lambda **k: L.ExternalAttention(d_model=16, S=8, **k), TOK),
    "ScaledDotProductAttention": Case(lambda **k: L.ScaledDotProductAttention(d_model=16, d_k=4, d_v=4, h=2, **k), TOK),
    "SimplifiedScaledDotProductAttention": Case(lambda **k: L.SimplifiedScaledDotProductAttention(d_model=16, h=2, **k),
                                                TOK),
    "SEAttention": Case(lambda **k: L.SEAttention(channel=16, reduction=4, **k), IMG),
    "SKAttention": Case(lambda **k: L.SKAttention(channel=16, kernels=(1, 3), reduction=4, L=4, **k), IMG),
    "CBAMBlock": Case(lambda **k: L.CBAMBlock(channel=16, reduction=4, kernel_size=3, **k), IMG),
    "BAMBlock": Case(lambda **k: L.BAMBlock(channel=16, reduction=4, dia_val=2, **k), IMG),
    "ECAAttention": Case(lambda **k: L.ECAAttention(kernel_size=3, **k), IMG, channels_checked=False),
    "DAModule": Case(lambda **k: L.DAModule(d_model=16, kernel_size=3, H=4, W=4, **k), (2, 4, 4, 16), fixed_hw=True),
    "PSA": Case(lambda **k: L.PSA(channel=16, reduction=2, S=4, **k), IMG),
    "EMSA": Case(lambda **k: L.EMSA(d_model=16, d_k=4, d_v=4, h=2, H=4, W=4, ratio=2, **k), TOK, fixed_hw=True),
    "ShuffleAttention": Case(lambda **k: L.ShuffleAttention(channel=16, G=2, **k), IMG),
    "MUSEAttention": Case(lambda **k: L.MUSEAttention(d_model=16, d_k=4, d_v=4, h=2, **k), TOK),
    "SpatialGroupEnhance": Case(lambda **k: L.SpatialGroupEnhance(groups=4, **k), IMG, channels_checked=False),
    "DoubleAttention": Case(lambda **k: L.DoubleAttention(16, 8, 8, True, **k), IMG),
    "AFT_FULL": Case(lambda **k: L.AFT_FULL(d_model=16, n=16, **k), TOK, fixed_hw=True),
    "OutlookAttention": Case(lambda **k: L.OutlookAttention(dim=16, num_heads=2, **k), IMG),
    "WeightedPermuteMLP": Case(lambda **k: L.WeightedPermuteMLP(16, 4, **k), (2, 4, 4, 16), fixed_hw=True),
    "HaloAttention": Case(lambda **k: L.HaloAttention(dim=16, block_size=2, halo_size=1, dim_head=8, heads=2, **k),
                          (2, 4, 4, 16)),
    "SequentialPolarizedSelfAttention": Case(lambda **k: L.SequentialPolarizedSelfAttention(channel=16, **k), IMG),
    "ParallelPolarizedSelfAttention": Case(lambda **k: L.ParallelPolarizedSelfAttention(channel=16, **k), IMG),
    "CoTAttention": Case(lambda **k: L.CoTAttention(dim=16, kernel_size=3, **k), IMG),
    "ResidualAttention": Case(lambda **k: L.ResidualAttention(channel=16, num_class=10, la=0.2, **k), IMG, out=(2, 10)),
    "S2Attention": Case(lambda **k: L.S2Attention(channels=16, **k), IMG),
    "GlobalFilter": Case(lambda **k: L.GlobalFilter(16, h=8, w=5, **k), IMG, fixed_hw=True, deploy=True,
                         ranks=(3, 4)),
    "TripletAttention": Case(lambda **k: L.TripletAttention(**k), IMG, channels_checked=False),
    "CoordAtt": Case(lambda **k: L.CoordAtt(16, 16, reduction=4, **k), IMG),
    "MobileViTAttention": Case(lambda **k: L.MobileViTAttention(in_channel=8, dim=16, kernel_size=3, patch_size=2,
                                                                depth=1, num_heads=2, **k), (2, 4, 4, 8)),
    "MobileViTv2Attention": Case(lambda **k: L.MobileViTv2Attention(d_model=16, **k), TOK, ranks=(3, 4)),
    "ParNetAttention": Case(lambda **k: L.ParNetAttention(channel=16, **k), IMG, deploy=True),
    "UFOAttention": Case(lambda **k: L.UFOAttention(d_model=16, d_k=4, d_v=4, h=2, **k), TOK),
    "InfiniAttention": Case(lambda **k: L.InfiniAttention(d_model=16, h=2, segment_len=8, **k), TOK, fixed_hw=True),
    "CoAtNetAttention": Case(lambda **k: L.CoAtNetAttention(16, dim_head=8, **k), (2, 4, 4, 16)),
    "GAM": Case(lambda **k: L.GAM(16, rate=4, **k), IMG),
    "SimAM": Case(lambda **k: L.SimAM(**k), IMG, channels_checked=False),
    "NonLocalBlock": Case(lambda **k: L.NonLocalBlock(16, **k), IMG),
    "CrissCrossAttention": Case(lambda **k: L.CrissCrossAttention(16, **k), IMG),
    "SpatialTransformer": Case(lambda **k: L.SpatialTransformer(4, **k), (2, 8, 8, 4)),
    "ODConv2d": Case(lambda **k: L.ODConv2d(16, 8, 3, padding=1, kernel_num=2, **k), IMG, out=(2, 8, 8, 8)),
    "MixerBlock": Case(lambda **k: L.MixerBlock(tokens_mlp_dim=16, channels_mlp_dim=16, tokens_hidden_dim=8,
                                                channels_hidden_dim=32, **k), TOK, fixed_hw=True),
    "ResMLPBlock": Case(lambda **k: L.ResMLPBlock(dim=16, seq_len=16, **k), TOK, fixed_hw=True),
    "gMLPBlock": Case(lambda **k: L.gMLPBlock(dim=16, len_sen=16, d_ff=16, **k), TOK, fixed_hw=True),
    "RepMLPBlock": Case(lambda **k: L.RepMLPBlock(8, 8, 4, 4, 2, 2, fc1_fc2_reduction=2, fc3_groups=2,
                                                  repconv_kernels=[1, 3], **k), (2, 4, 4, 8), fixed_hw=True,
                        deploy=True),
    "RepVGGBlock": Case(lambda **k: L.RepVGGBlock(16, 16, **k), IMG, deploy=True),
    "ACNetBlock": Case(lambda **k: L.ACNetBlock(16, 16, **k), IMG, deploy=True),
}

assert set(CASES) == {c.__name__ for c in L.ATTENTION_LAYERS}, "every layer needs a test case"


def randomize(layer, seed=0):
    """Give every variable non-trivial values (zero-initialised gates would hide bugs and
    stop gradients); BN statistics random too, so fusions are tested with real statistics."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        shape, name = tuple(v.shape), v.name
        if name == "moving_variance":
            a = rng.uniform(0.5, 1.5, shape)
        elif name in ("moving_mean", "bias", "beta"):
            a = 0.2 * rng.standard_normal(shape)
        elif name == "gamma" and len(shape) == 1:
            a = 1.0 + 0.2 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            a = rng.standard_normal(shape) / np.sqrt(max(1, int(np.prod(shape[:-1]))))
        else:
            a = 0.5 * rng.standard_normal(shape)
        v.assign(a.astype(v.dtype))


def sample(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def built(case: Case, seed=0, **kwargs):
    """A built layer with random weights and the input it was built on."""
    layer = case.make(**kwargs)
    x = sample(case.shape)
    layer(x)
    randomize(layer, seed)
    return layer, x
