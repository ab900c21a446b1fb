"""ONNX via tf2onnx (1.17): dynamic batch, opset 17 by default (tf2onnx's maximum is 18).

What tf2onnx lacks, handled here:
- Exact GELU: `tf.nn.gelu(approximate=False)` lowers to `Erfc`, which tf2onnx has no handler for
  (it writes an invalid model without raising). A handler rewrites Erfc(x) as 1 - Erf(x).
- Grouped convolutions: Keras' TF backend runs Conv2D(groups > 1) inside a
  tf.function(jit_compile=True), which leaves a StatefulPartitionedCall in the ONNX graph
  (onnx/tensorflow-onnx#2099); the zoo's own GroupedConv2D / Conv2d do so too where TF sees an
  accelerator. Before conversion every grouped Conv2D, nested ones inside composite layers
  included (`export.deploy.swap_layers`), is replaced in a cloned model by split -> conv -> concat
  (a depthwise conv when every group has one input channel; a zoo Conv2d's PyTorch padding
  kept), so the ONNX graph does not depend on the host, and the clone is proven equal to the
  original.
- Layers with a deploy form (`to_deploy()`) are swapped in first.
- Memory: tf2onnx deep-copies the whole graph, weights included, before each of its optimizer
  passes, and the copies it drops are reference cycles that CPython's full collection reaches late
  in a process holding TensorFlow's many long-lived objects (parnet_s at 64 px peaked at 5.8 GB
  for 73 MB of weights). A collection before each pass (`_collected_passes`) keeps it at 2.5 GB;
  the heap that existed before the conversion is frozen meanwhile, so each one stays cheap.
After conversion: onnx.checker full check, no op outside the default ONNX domain and no leftover
TF op (StatefulPartitionedCall, Erfc, FFT...), and the file must open in onnxruntime.
"""
from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import keras
import numpy as np

from zoo.errors import ExportError, InvalidArgumentError
from zoo.factory import pretrained_cfg
from zoo.layers._nn import grouped_conv, pad_hw, padded_shape

from ._cfg import serving_cfg
from ._io import check_target, file_in_folder, staged
from .deploy import deploy_model, prove_equal, swap_layers

DEFAULT_OPSET = 17
OPSETS = range(13, 19)           # tf2onnx 1.17: "Opset 19 is not supported yet"
INPUT_NAME = "image"
UNSUPPORTED = {"StatefulPartitionedCall", "PartitionedCall", "Erfc", "RFFT2D", "IRFFT2D", "RFFT", "IRFFT",
               "ExtractImagePatches", "TensorListReserve"}

_ERFC_REGISTERED = False


def _tf():
    import tensorflow as tf
    return tf


def _tf2onnx():
    global _ERFC_REGISTERED
    try:
        import tf2onnx
        from tf2onnx import utils
        from tf2onnx.handler import tf_op
    except ImportError as e:
        raise ExportError(f"ONNX export needs tf2onnx (pip install tf2onnx==1.17.0 onnx onnxruntime): {e}") from None
    try:  # tf2onnx 1.17 uses numpy aliases removed in numpy 2; Keras ships the same patch
        import warnings

        from keras.src.export.tf2onnx_lib import patch_tf2onnx
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)   # its np.object probe
            patch_tf2onnx()
    except ImportError:
        pass
    if not _ERFC_REGISTERED:
        @tf_op("Erfc")
        class _Erfc:  # noqa: F841 - registered by the decorator
            @classmethod
            def version_9(cls, ctx, node, **kwargs):
                """erfc(x) = 1 - erf(x)."""
                dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
                erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
                one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
                node.type = "Sub"
                ctx.replace_inputs(node, [one.output[0], erf.output[0]])
        _ERFC_REGISTERED = True
    return tf2onnx


@contextlib.contextmanager
def _collected_passes():
    """tf2onnx's optimizer passes (its module-level registry, restored on exit) each preceded by a
    garbage collection, which frees the previous pass's dropped graph copy before the next one.
    The objects alive on entry are frozen (`gc.freeze`) meanwhile: a full collection over a long
    session's heap (a test run's many models) takes 0.3 s or more, dozens of times per export."""
    from tf2onnx import optimizer
    passes = optimizer._get_optimizers()   # the registry itself; optimize_graph reads it per call
    saved = dict(passes)

    def collected(factory):
        def make():
            gc.collect()
            return factory()
        return make

    passes.update({name: collected(factory) for name, factory in saved.items()})
    gc.freeze()   # what exists now is not scanned, so each collection costs what conversion made
    try:
        yield
    finally:
        gc.unfreeze()
        passes.clear()
        passes.update(saved)


class SplitGroupConv2D(keras.layers.Layer):
    """A grouped Conv2D as split -> conv per group -> concat (or one depthwise conv), for tf2onnx.

    Same weights and outputs as the Conv2D it replaces; plain TF ops, no jit-compiled function.
    A `zoo.layers._nn.Conv2d` keeps its explicit PyTorch padding (`torch_padding`, applied first).
    """

    def __init__(self, conv: keras.layers.Conv2D, **kwargs):
        super().__init__(name=conv.name, dtype=conv.dtype_policy, **kwargs)
        if conv.data_format != "channels_last":
            raise ExportError(f"{conv.name}: only channels_last grouped convolutions are rewritten")
        self.groups = conv.groups
        self.strides = tuple(conv.strides)
        self.dilation = tuple(conv.dilation_rate)
        self.padding = conv.padding.upper()
        self.torch_padding = tuple(getattr(conv, "torch_padding", (0, 0)))
        self.activation = conv.activation
        self.filters, self.kernel_size = conv.filters, tuple(conv.kernel_size)
        kernel = keras.ops.convert_to_numpy(conv.kernel)
        kh, kw, cin_g, cout = kernel.shape
        self.depthwise = cin_g == 1
        if self.depthwise:  # group c -> output channels c*m .. c*m+m-1 from input channel c
            kernel = kernel.reshape(kh, kw, self.groups, cout // self.groups)
        self.kernel = self.add_weight(shape=kernel.shape, initializer="zeros", trainable=False, name="kernel")
        self.kernel.assign(kernel)
        self.bias = None
        if conv.use_bias:
            self.bias = self.add_weight(shape=(cout,), initializer="zeros", trainable=False, name="bias")
            self.bias.assign(keras.ops.convert_to_numpy(conv.bias))

    def call(self, x):
        tf = _tf()
        x = pad_hw(x, self.torch_padding)
        if self.depthwise:
            s = self.strides
            y = tf.nn.depthwise_conv2d(x, self.kernel.value, (1, s[0], s[1], 1), self.padding,
                                       dilations=self.dilation)
        else:
            y = grouped_conv(x, self.kernel.value, self.groups, strides=self.strides, padding=self.padding.lower(),
                             dilation_rate=self.dilation, per_group=True)
        if self.bias is not None:
            y = y + self.bias.value
        return self.activation(y) if self.activation is not None else y

    def compute_output_shape(self, input_shape):
        from keras.src.ops.operation_utils import compute_conv_output_shape
        return compute_conv_output_shape(padded_shape(input_shape, self.torch_padding), self.filters,
                                         self.kernel_size, self.strides, self.padding.lower(),
                                         dilation_rate=self.dilation)


def split_grouped(layer):
    """`swap_layers` replacement: every grouped Conv2D (zoo's Conv2d / GroupedConv2D included) as
    a SplitGroupConv2D."""
    if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) > 1:
        return SplitGroupConv2D(layer)
    return None


def onnx_ready_model(model, check_inputs):
    """Deploy forms, then grouped convs rewritten; each step proven exact on check_inputs."""
    dmodel, swapped, _ = deploy_model(model, check_inputs)
    gmodel, grouped = swap_layers(dmodel, split_grouped)
    if grouped:
        prove_equal(model, gmodel, check_inputs, what="grouped-convolution rewrite")
    return gmodel, swapped + grouped


def scan_ops(model_proto) -> list[str]:
    """Ops an ONNX runtime may not have: non-default domains and leftover TF ops."""
    bad = set()

    def walk(graph):
        for n in graph.node:
            if n.domain not in ("", "ai.onnx") or n.op_type in UNSUPPORTED:
                bad.add(f"{n.domain + '.' if n.domain else ''}{n.op_type}")
            for a in n.attribute:
                if a.g is not None and a.g.node:
                    walk(a.g)
    walk(model_proto.graph)
    return sorted(bad)


def _rename_value(graph, old: str, new: str):
    for n in graph.node:
        n.input[:] = [new if i == old else i for i in n.input]
        n.output[:] = [new if o == old else o for o in n.output]
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        if v.name == old:
            v.name = new


def ort_session(path_or_bytes, threads: int | None = None, spinning: bool = True):
    """An onnxruntime CPU session; spinning=False stops its idle threads from busy-waiting (what a
    benchmark timing it in turns with other runtimes needs: their spinning steals the cores)."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ExportError(f"running ONNX needs onnxruntime (pip install onnxruntime): {e}") from None
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    src = str(path_or_bytes) if isinstance(path_or_bytes, (str, Path)) else bytes(path_or_bytes)
    try:
        return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"onnxruntime cannot load the model: {str(e).strip().splitlines()[0]}") from e


def to_onnx(model, path, *, opset: int = DEFAULT_OPSET, overwrite: bool = False, check_inputs=None) -> Path:
    """Write `model` as ONNX at `path` (input `image` float32[batch, H, W, C], NHWC like the Keras
    model, preprocessed; output `logits` (or `features`) float32[batch, K]); returns the path.

    opset: 13..18 (tf2onnx 1.17's range; default 17).
    check_inputs: inputs on which deploy forms / rewrites must match the original (default: the
        verification photos, preprocessed, or seeded random inputs for a model without a cfg).
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise InvalidArgumentError(f"opset must be an int in {OPSETS.start}..{OPSETS.stop - 1} "
                                   f"(tf2onnx 1.17's range); got {opset!r}")
    tf = _tf()
    cfg = serving_cfg(model)
    path = file_in_folder(path, f"{cfg.name}.onnx")   # a folder: the file goes inside it
    check_target(path, overwrite)
    tf2onnx = _tf2onnx()
    import onnx
    from onnx import checker

    from .tflite import default_check_inputs
    if check_inputs is None:
        check_inputs = default_check_inputs(cfg)
    omodel, _ = onnx_ready_model(model, check_inputs)
    h, w, c = cfg.input_size
    features = (pretrained_cfg(model) or {}).get("num_classes") == 0
    out_name = "features" if features else "logits"

    @tf.function(input_signature=[tf.TensorSpec((None, h, w, c), tf.float32, name=INPUT_NAME)])
    def fn(image):
        return omodel(image, training=False)

    try:
        with _collected_passes():
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"tf2onnx failed on {cfg.name}: {type(e).__name__}: {str(e).strip()[:300]}") from e
    g = proto.graph
    if len(g.output) != 1 or len(g.input) != 1:
        raise ExportError(f"internal error: ONNX graph has {len(g.input)} inputs / {len(g.output)} outputs")
    _rename_value(g, g.output[0].name, out_name)
    if g.input[0].name != INPUT_NAME:
        _rename_value(g, g.input[0].name, INPUT_NAME)
    for v in (g.input[0], g.output[0]):
        d0 = v.type.tensor_type.shape.dim[0]
        d0.ClearField("dim_value")
        d0.dim_param = "batch"
    bad = scan_ops(proto)
    if bad:
        raise ExportError(f"{cfg.name}: the ONNX graph has ops onnxruntime cannot run: {bad}. "
                          f"Give the layer an export-friendly form (to_deploy()) or replace the op.")
    proto.doc_string = f"attention-zoo {cfg.arch or cfg.name}: NHWC float32 input, preprocessed (see docs/export.md)"
    try:
        checker.check_model(proto, full_check=True)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"onnx.checker rejects the converted {cfg.name}: {str(e).strip()[:300]}") from e
    data = proto.SerializeToString()
    ort_session(data)
    with staged(path, overwrite) as tmp:
        onnx.save_model(proto, str(tmp))
    return Path(path)
