"""Shared pieces of the export tests: the model of each family used by the fast conformance
test, and tiny hand-built models for the error and mechanism tests."""
from __future__ import annotations

import keras
import numpy as np

# the smallest registered arch of each family (test_every_family_has_a_conformance_model keeps
# this in step with the registry)
SMALLEST = {
    "seresnet": "seresnet18",
    "ecaresnet": "ecaresnet26t",
    "legacy_senet": "legacy_seresnet18",
    "skresnet": "skresnet18",
    "coatnet": "coatnet_pico_rw_224",
    "gfnet": "gfnet_ti",
    "mobilevit": "mobilevit_xxs",
    "mobilevitv2": "mobilevitv2_050",
    "parnet": "parnet_s",
}
IMG_SIZE = 64
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def family_model(arch: str, img_size: int = IMG_SIZE):
    import zoo
    from export import testing
    keras.utils.set_random_seed(0)  # the same stand-in weights on every run
    model = zoo.create(arch, img_size=img_size)
    return testing.data_init(model)


def tiny_model(layer=None, size: int = 32, classes: int = 10, name: str = "tiny", seed: int = 0):
    """image -> conv -> relu -> [layer] -> GAP -> dense: a few kB, no pretrained_cfg."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inp)
    x = keras.layers.ReLU(name="relu")(x)
    if layer is not None:
        x = layer(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(classes, name="fc")(x)
    return keras.Model(inp, out, name=name)


def tiny_inputs(n=4, size=32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, size, size, 3)).astype(np.float32)


class FFTRoundTrip(keras.layers.Layer):
    """irfft2d(rfft2d(x)) over H, W: the identity, through IRFFT2D (no TFLite builtin, no tf2onnx
    handler). With deploy=True it offers the identity as its deploy form."""

    def __init__(self, deploy=False, **kw):
        super().__init__(**kw)
        self.deploy = deploy

    def call(self, x):
        import tensorflow as tf
        t = tf.transpose(x, (0, 3, 1, 2))
        y = tf.signal.irfft2d(tf.signal.rfft2d(t), fft_length=tf.shape(t)[2:])
        return tf.transpose(y, (0, 2, 3, 1))

    def to_deploy(self):
        return keras.layers.Identity(name=self.name + "_deploy") if self.deploy else self
