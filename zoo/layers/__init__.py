"""Attention modules as Keras 3 layers (channels-last).

`from zoo.layers import SEAttention` ... every layer is registered for Keras
serialization under the package name "zoo". docs/layers.md lists them with their papers,
input shapes and arguments.
"""
from ._blocks import Mlp
from .a2 import DoubleAttention
from .attention import (AFT_FULL, EMSA, ExternalAttention, MUSEAttention, ScaledDotProductAttention,
                        SimplifiedScaledDotProductAttention, UFOAttention)
from .base import check_input
from .cbam import BAMBlock, CBAMBlock
from .coatnet import CoAtNetAttention, RelPosBias
from .coord import CoordAtt
from .cot import CoTAttention
from .criss_cross import CrissCrossAttention
from .danet import DAModule
from .drop_path import DropPath
from .eca import ECAAttention
from .gam import GAM
from .gfnet import GlobalFilter
from .halo import HaloAttention
from .infini import InfiniAttention
from .mlp import MixerBlock, ResMLPBlock, gMLPBlock
from .mobilevit import MobileViTAttention, MobileViTv2Attention
from .nonlocal_block import NonLocalBlock
from .odconv import ODConv2d
from .outlook import OutlookAttention
from .polarized import ParallelPolarizedSelfAttention, SequentialPolarizedSelfAttention
from .psa import PSA
from .rep import ACNet, ACNetBlock, ParNetAttention, RepBlock, RepVGGBlock
from .repmlp import RepMLP, RepMLPBlock
from .residual import ResidualAttention
from .s2 import S2Attention
from .se import SEAttention
from .shuffle import ShuffleAttention, SpatialGroupEnhance
from .simam import SimAM
from .sk import SelectiveKernelAttn, SKAttention
from .stn import STN, SpatialTransformer
from .triplet import TripletAttention
from .vip import WeightedPermuteMLP

# every attention / MLP / re-parameterisable module (not the helpers); the test suite and the
# docs iterate over this list
ATTENTION_LAYERS = [
    ExternalAttention, ScaledDotProductAttention, SimplifiedScaledDotProductAttention, SEAttention, SKAttention,
    CBAMBlock, BAMBlock, ECAAttention, DAModule, PSA, EMSA, ShuffleAttention, MUSEAttention, SpatialGroupEnhance,
    DoubleAttention, AFT_FULL, OutlookAttention, WeightedPermuteMLP, HaloAttention, SequentialPolarizedSelfAttention,
    ParallelPolarizedSelfAttention, CoTAttention, ResidualAttention, S2Attention, GlobalFilter, TripletAttention,
    CoordAtt, MobileViTAttention, MobileViTv2Attention, ParNetAttention, UFOAttention, InfiniAttention,
    CoAtNetAttention, GAM, SimAM, NonLocalBlock, CrissCrossAttention, SpatialTransformer, ODConv2d, MixerBlock,
    ResMLPBlock, gMLPBlock, RepMLPBlock, RepVGGBlock, ACNetBlock,
]

__all__ = [c.__name__ for c in ATTENTION_LAYERS] + [
    "ACNet", "RepBlock", "RepMLP", "STN", "Mlp", "RelPosBias", "SelectiveKernelAttn", "DropPath", "check_input",
    "ATTENTION_LAYERS"]
