"""Attention modules as Keras 3 layers (channels-last).

`from zoo.layers import SEAttention` ... every layer is registered for Keras
serialization under the package name "zoo".
"""
from .base import check_input
from .drop_path import DropPath
from .eca import ECAAttention
from .se import SEAttention

__all__ = ["check_input", "DropPath", "ECAAttention", "SEAttention"]
