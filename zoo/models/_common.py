"""Functional building blocks with PyTorch numerics.

Layer names are the module paths of the reference checkpoint, so `zoo.convert` maps a
state dict onto the model by name. Helpers here only add layers that hold no weights
under other names (`<name>.pad`, `<name>.act`).
"""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field

import keras

from ..layers._nn import BN_EPS, BN_MOMENTUM, GroupedConv2D, get_activation, torch_padding  # BN_*: PyTorch's defaults
from ..layers.base import register


@dataclass
class Feature:
    """One feature map a family exposes for `features_only` (timm's feature_info)."""
    tensor: object
    num_chs: int
    reduction: int
    module: str


@dataclass
class ModelParts:
    """What a family builder returns: the graph of the whole classifier and its feature taps."""
    inputs: object
    outputs: object                    # logits, or pooled features when num_classes == 0
    features: list[Feature] = field(default_factory=list)


# Keras maps a functional graph with one recursive call per node; the deepest archs (269 layers,
# ~3000 nodes) exceed Python's default limit of 1000.
GRAPH_RECURSION_LIMIT = 20000


@contextlib.contextmanager
def deep_graphs():
    """Raise the recursion limit while a very deep functional graph is built (or a .keras file of
    one loads: `with zoo.models._common.deep_graphs(): keras.models.load_model(path)`)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, GRAPH_RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def conv2d(x, filters, kernel_size, *, stride=1, padding=None, dilation=1, groups=1, use_bias=False, name):
    """A Conv2d with PyTorch's symmetric zero padding (default `padding = dilation*(k-1)//2`):
    explicit (a `<name>.pad` ZeroPadding2D) unless it is the stride-1 case Keras' "same" equals
    (`zoo.layers._nn.torch_padding`). Grouped convs are `GroupedConv2D` (per group on CPU hosts).
    """
    k = kernel_size
    if padding is None:
        padding = ((stride - 1) + dilation * (k - 1)) // 2
    pad_mode, pad = torch_padding(k, stride, padding, dilation)
    if any(pad):
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x)
    conv = GroupedConv2D if groups > 1 else keras.layers.Conv2D
    return conv(filters, k, strides=stride, padding=pad_mode, dilation_rate=dilation, groups=groups,
                use_bias=use_bias, name=name)(x)


def batch_norm(x, name, eps=BN_EPS):
    return keras.layers.BatchNormalization(epsilon=eps, momentum=BN_MOMENTUM, name=name)(x)


def act(x, activation, name):
    return keras.layers.Activation(get_activation(activation), name=name)(x)


def max_pool(x, pool_size, stride, padding=0, ceil_mode=False, name=None):
    """PyTorch MaxPool2d on a non-negative input (after ReLU): zero padding then equals
    PyTorch's -inf padding, and `ceil_mode` becomes extra padding at the bottom/right.
    """
    h, w = x.shape[1], x.shape[2]
    pads = []
    for size in (h, w):
        extra = 0
        if ceil_mode:
            if size is None:
                raise ValueError("ceil_mode pooling needs a static input size (pass img_size)")
            span = size + 2 * padding - pool_size
            out = -(-span // stride) + 1
            if (out - 1) * stride >= size + padding:  # PyTorch drops a window starting in the padding
                out -= 1
            extra = max(0, (out - 1) * stride + pool_size - (size + 2 * padding))
        pads.append((padding, padding + extra))
    if any(a or b for a, b in pads):
        x = keras.layers.ZeroPadding2D(tuple(pads), name=f"{name}.pad")(x)
    return keras.layers.MaxPooling2D(pool_size, strides=stride, padding="valid", name=name)(x)


def avg_pool_ceil(x, stride, name):
    """PyTorch AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False): Keras' "same"
    pooling pads only at the end and excludes the padding from the average, which is exactly
    what ceil mode does for a 2x2 window."""
    return keras.layers.AveragePooling2D(2, strides=stride, padding="same", name=name)(x)


def classifier_head(x, num_classes, drop_rate=0.0, fc_name="fc", pool_name="global_pool"):
    """Global average pool, optional dropout, linear classifier (num_classes=0: pooled features)."""
    x = keras.layers.GlobalAveragePooling2D(name=pool_name)(x)
    if num_classes:
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, name="head_drop")(x)
        x = keras.layers.Dense(num_classes, name=fc_name)(x)
    return x


def drop_path_rates(drop_path_rate: float, num_blocks: int) -> list[float]:
    """timm's linear stochastic-depth decay: block i of n gets rate * i / (n - 1)."""
    if num_blocks <= 1:
        return [0.0] * num_blocks
    return [drop_path_rate * i / (num_blocks - 1) for i in range(num_blocks)]


@register
class ImageInput(keras.layers.Layer):
    """Identity on the model input that turns a wrong image shape into a clear error
    (Keras would report it from inside the first convolution, after padding)."""

    def __init__(self, channels, model_name=None, model_cfg=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.model_name = model_name
        self.model_cfg = model_cfg   # zoo.create's cfg of the model, kept by .keras files

    def call(self, x):
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[-1] != self.channels:
            hint = ""
            if len(shape) == 4 and shape[1] == self.channels:
                hint = " It looks channels-first: the zoo takes NHWC, transpose with x.transpose(0, 2, 3, 1)."
            elif len(shape) == 4:
                hint = (f" Create the model with in_chans={shape[-1]} for {shape[-1]}-channel images "
                        f"(pretrained first-conv weights are adapted).")
            elif len(shape) == 3:
                hint = " Add the batch axis: x[None]."
            raise ValueError(
                f"{self.model_name or 'The model'} takes NHWC images (batch, height, width, {self.channels}) "
                f"normalized with its mean/std (zoo.preprocess); got shape {shape}.{hint}")
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in (self.model_cfg or {}).items()}
        return {**super().get_config(), "channels": self.channels, "model_name": self.model_name,
                "model_cfg": cfg or None}


def image_input(img_size, in_chans, model_name):
    """The model's named input and its checked tensor."""
    inputs = keras.Input((*img_size, in_chans), name="image")
    return inputs, ImageInput(in_chans, model_name, name="image_check")(inputs)
