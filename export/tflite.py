"""TFLite: builtin ops only, batch 1, fp32 / fp16 / dynamic range / full int8 / int8-mixed, with metadata.

Choices (see docs/export.md and the export notes):
- Converted from a SavedModel whose signature has a static [1, H, W, C] input (Keras' own export
  makes the batch dynamic, which adds shape ops and which MediaPipe refuses).
- supported_ops is TFLITE_BUILTINS (TFLITE_BUILTINS_INT8 for int8), never SELECT_TF_OPS: no Python
  runtime can run Flex ops, so a model that needs one fails here with the op list.
- Input contract (the signature's input name says which): by default the artifact takes RGB
  pixels, `pixels`: float32 0..255 (fp32 / fp16 / dynamic) or uint8 0..255 (int8; int8 I/O:
  pixel - 128), already resized and center-cropped to H x W, and normalizes inside the graph.
  MediaPipe 1.2 refuses per-channel NormalizationOptions ("Per-channel image normalization is not
  available"), so folding the model's per-channel mean/std into the graph is what lets it (and the
  Task Library) run every variant: the metadata then says mean 0, std 1. With pixel_input=False a
  float artifact takes `image`, preprocessed like the Keras model, and its metadata carries the
  per-channel normalization (Task Library yes, MediaPipe only when mean/std are equal per channel).
- int8 is full-integer with uint8 (default) or int8 input and output, input quantization scale 1
  (raw pixels). Calibration data are the caller's preprocessed float images
  (`representative_data`), turned back into pixels; one extra copy of the first image carries a
  0 and a 255 pixel so the calibrated input range is exactly 0..255.
- int8-mixed: int8 as above, except the ops in INT8_MIXED_FLOAT_OPS (and any `float_nodes`), which
  stay float32: calibrate, then MLIR's quantizer with denylisted ops/nodes, as the quantization
  debugger does (docs/int8.md measures it on trained networks).
- After conversion: no Flex / custom ops, no near-zero quantization scales (XNNPACK refuses them),
  and the file must load with LiteRT's default delegates.
- Layers with a deploy form (`to_deploy()`) are swapped in first, then the pools that XNNPACK
  would leave to LiteRT's own kernels become the depthwise convs that compute them
  (`tflite_ready_model`); each swap is proven exact. `xnnpack_coverage` reads what a file's
  XNNPACK delegate leaves out (verify reports it).
"""
from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path

import numpy as np

from zoo._quiet import quiet_stderr
from zoo.errors import ExportError, InvalidArgumentError
from zoo.factory import pretrained_cfg

from ._cfg import ServingCfg, serving_cfg
from ._io import check_target, file_in_folder, staged
from .deploy import deploy_model, prove_equal, swap_layers

QUANTIZE = ("fp32", "fp16", "dynamic", "int8", "int8-mixed")
# int8-mixed: full integer except these TFLite builtin ops, which stay float32 (between
# DEQUANTIZE/QUANTIZE): the attention core (BATCH_MATMUL, SOFTMAX), LayerNorm's decomposition
# (MEAN, SQUARED_DIFFERENCE, RSQRT) and the smooth activations (GELU, LOGISTIC: SiLU/sigmoid
# gates, TANH), where int8's uniform grid loses the most on trained hybrids. docs/int8.md.
INT8_MIXED_FLOAT_OPS = ("BATCH_MATMUL", "SOFTMAX", "MEAN", "SQUARED_DIFFERENCE", "RSQRT", "GELU", "LOGISTIC", "TANH")
INT8_IO = ("uint8", "int8")
INTEGER = ("int8", "int8-mixed")   # the full-integer modes: calibrated on representative_data
PIXELS_INPUT, IMAGE_INPUT = "pixels", "image"   # the signature's input name tells the input contract
NEAR_ZERO_SCALE = 1e-6   # activation scales below this: degenerate calibration range (XNNPACK refuses)
_FLOAT_OK_OPS = {"QUANTIZE", "DEQUANTIZE"}


def _tf():
    import tensorflow as tf
    return tf


# ---------------------------------------------------------------------------------------------
# the graph LiteRT's XNNPACK delegate runs whole

def pool_as_depthwise(layer, average: bool = True):
    """`swap_layers` replacement: a Keras pooling layer (channels last) as the depthwise conv that
    computes it, or None. XNNPACK runs depthwise convs in float and int8, but leaves to LiteRT's
    own (single-threaded) kernels a 1x1 MAX_POOL_2D in any precision and an AVERAGE_POOL_2D in
    int8; each such op also cuts the delegated graph in two.
    - a 1x1 `MaxPooling2D` (a strided subsample: the SK-ResNets' dilated strided convs): every
      weight 1;
    - with `average`, an `AveragePooling2D` whose windows all lie inside the input (Keras leaves
      "same" padding out of an average, a conv cannot): every weight 1 / window (2x2: 0.25,
      which scales exactly). CoAtNet's and the 'd' ResNets' downsampling shortcuts. Only for the
      integer modes: in float XNNPACK runs the pool itself, and dynamic-range quantization would
      give the conv int8 weights, which it does not run."""
    import keras
    try:
        shape = tuple(layer.input.shape)
    except (AttributeError, ValueError):   # never called in a functional graph
        return None
    if type(layer) not in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D) \
            or layer.data_format != "channels_last" or len(shape) != 4 or None in shape[1:]:
        return None
    (kh, kw), (sh, sw) = layer.pool_size, layer.strides
    if type(layer) is keras.layers.MaxPooling2D:
        if (kh, kw) != (1, 1):
            return None
        weight = 1.0
    else:
        if not average or (layer.padding == "same" and any(
                max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in ((shape[1], kh, sh), (shape[2], kw, sw)))):
            return None
        weight = 1.0 / (kh * kw)
    conv = keras.layers.DepthwiseConv2D((kh, kw), strides=(sh, sw), padding="valid", use_bias=False,
                                        name=layer.name, dtype=layer.dtype_policy)
    conv.build(shape)
    conv.set_weights([np.full((kh, kw, shape[3], 1), weight, np.float32)])
    return conv


def tflite_ready_model(model, check_inputs, quantize: str = "fp32"):
    """Deploy forms, then the pools XNNPACK would leave out as depthwise convs (`pool_as_depthwise`);
    each step proven exact on check_inputs. Returns (model, swapped layer names)."""
    dmodel, swapped, _ = deploy_model(model, check_inputs)
    pmodel, pools = swap_layers(dmodel, lambda layer: pool_as_depthwise(layer, average=quantize in INTEGER))
    if pools:
        prove_equal(model, pmodel, check_inputs, what="pooling rewrite")
    return pmodel, swapped + pools


# ---------------------------------------------------------------------------------------------
# flatbuffer inspection

def _schema():
    from ai_edge_litert import schema_py_generated as schema
    return schema


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def inspect_tflite(model_bytes: bytes) -> dict:
    """Ops, I/O tensors, quantization and float islands of a TFLite flatbuffer."""
    schema = _schema()
    m = schema.Model.GetRootAsModel(bytearray(model_bytes), 0)
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = _enum_names(schema.TensorType)
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            cc = oc.CustomCode()
            codes.append(cc.decode() if isinstance(cc, bytes) else str(cc))
        else:
            codes.append(op_names.get(code, f"BUILTIN_{code}"))
    g = m.Subgraphs(0)

    def tensor(i):
        t = g.Tensors(i)
        q = t.Quantization()
        scales = q.ScaleAsNumpy() if q is not None and q.ScaleLength() else np.zeros(0)
        zps = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else np.zeros(0)
        buf = m.Buffers(t.Buffer()) if t.Buffer() < m.BuffersLength() else None
        is_const = buf is not None and (buf.DataLength() > 0 or buf.Size() > 0)
        name = t.Name().decode() if isinstance(t.Name(), bytes) else str(t.Name())
        return {"index": i, "name": name, "type": type_names.get(t.Type(), str(t.Type())),
                "shape": [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else [],
                "scales": np.asarray(scales, np.float64), "zero_points": np.asarray(zps, np.int64),
                "const": bool(is_const)}

    tensors = [tensor(i) for i in range(g.TensorsLength())]
    ops, float_islands = [], []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        name = codes[op.OpcodeIndex()]
        ops.append(name)
        ins = [tensors[j] for j in op.InputsAsNumpy() if j >= 0] if op.InputsLength() else []
        outs = [tensors[j] for j in op.OutputsAsNumpy() if j >= 0] if op.OutputsLength() else []
        if name not in _FLOAT_OK_OPS and any(t["type"] == "FLOAT32" and not t["const"] for t in ins + outs):
            float_islands.append(name)
    near_zero = [t["name"] for t in tensors
                 if t["type"] in ("INT8", "UINT8", "INT16") and not t["const"] and t["scales"].size
                 and float(t["scales"].min()) < NEAR_ZERO_SCALE]
    return {
        "ops": sorted(set(ops)),
        "op_count": len(ops),
        "flex_or_custom": sorted({o for o in ops if o.startswith("Flex") or o not in op_names.values()}),
        "inputs": [tensors[j] for j in g.InputsAsNumpy()],
        "outputs": [tensors[j] for j in g.OutputsAsNumpy()],
        "float_islands": sorted(set(float_islands)),
        "near_zero_scales": near_zero,
        "has_fp16": any(t["type"] == "FLOAT16" for t in tensors),
        "has_int8_weights": any(t["type"] == "INT8" and t["const"] for t in tensors),
    }


def quantize_mode(info: dict) -> str:
    """fp32 / fp16 / dynamic / int8, read from the file itself."""
    if info["inputs"][0]["type"] in ("UINT8", "INT8"):
        return "int8"
    if info["has_fp16"]:
        return "fp16"
    if info["has_int8_weights"]:
        return "dynamic"
    return "fp32"


# ---------------------------------------------------------------------------------------------
# conversion

def _as_samples(data, cfg: ServingCfg) -> list[np.ndarray]:
    """representative_data -> list of (1, H, W, C) float32 samples, checked."""
    if data is None:
        raise ExportError(
            "quantize='int8' (and 'int8-mixed') needs representative_data: ~100-500 preprocessed images (NHWC float32, "
            "what the model takes) from the deployment domain, e.g. "
            "export.calibration_data(model, images=export.photos.images_from_folder(DIR)); "
            "CLI: --calibration DIR, or --calibration sample-photos for the built-in set (a few "
            "scikit-image photos: a smoke test, not a representative set).")
    h, w, c = cfg.input_size
    if isinstance(data, np.ndarray) and data.ndim == 4:
        items = list(data)
    else:
        try:
            items = list(data)
        except TypeError:
            raise InvalidArgumentError(
                f"representative_data must be an array or an iterable of images; got {type(data).__name__}") from None
    out = []
    for i, x in enumerate(items):
        a = np.asarray(x)
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.shape != (h, w, c) or not np.issubdtype(a.dtype, np.floating):
            raise InvalidArgumentError(
                f"representative_data[{i}] has shape {a.shape} and dtype {a.dtype}; each sample must be a "
                f"preprocessed float image of shape ({h}, {w}, {c}) (what the model takes)")
        if not np.all(np.isfinite(a)):
            raise InvalidArgumentError(f"representative_data[{i}] holds NaN or inf")
        out.append(a.astype(np.float32)[None])
    if not out:
        raise ExportError("representative_data is empty; pass ~100-500 preprocessed images")
    return out


def _flex_ops(message: str) -> list[str]:
    return sorted(set(re.findall(r"'(tf\.[A-Za-z0-9_]+)' op is neither a custom op nor a flex op", message)))


@contextlib.contextmanager
def _serving_saved_model(model, cfg: ServingCfg, pixel_input: bool):
    """A temporary SavedModel of `model` with a static [1, H, W, C] `serving_default` signature
    (pixels normalized inside when pixel_input); yields its folder."""
    tf = _tf()
    h, w, c = cfg.input_size
    features = (pretrained_cfg(model) or {}).get("num_classes") == 0
    out_key = "features" if features else "logits"
    if pixel_input:
        mean = tf.constant(np.asarray(cfg.mean, np.float32) * 255.0)
        std = tf.constant(np.asarray(cfg.std, np.float32) * 255.0)

    root = tf.__internal__.tracking.AutoTrackable()

    @tf.function(input_signature=[tf.TensorSpec((1, h, w, c), tf.float32,
                                                name=PIXELS_INPUT if pixel_input else IMAGE_INPUT)])
    def serve(image):
        x = (image - mean) / std if pixel_input else image
        return {out_key: model(x, training=False)}
    root.serve = serve
    concrete = serve.get_concrete_function()
    from .saved_model import track_variables
    track_variables(root, model, [concrete])
    with tempfile.TemporaryDirectory() as d:
        tf.saved_model.save(root, d, signatures={"serving_default": concrete})
        yield d


def _calibration_pixels(samples, cfg: ServingCfg) -> list[np.ndarray]:
    """Preprocessed samples back to float pixels, plus one copy of the first with a 0 and a 255
    pixel so the calibrated input range is exactly 0..255."""
    from .photos import denormalize
    w = cfg.input_size[1]
    pixels = [np.clip(denormalize(s, cfg), 0.0, 255.0) for s in samples]
    edge = pixels[0].copy()
    edge[0, 0, 0, :], edge[0, 0, min(1, w - 1), :] = 0.0, 255.0
    pixels.append(edge)
    return pixels


@contextlib.contextmanager
def int8_converter(model, cfg: ServingCfg, samples, *, int8_io: str = "uint8", progress: bool = False):
    """A TFLiteConverter set up for full-integer quantization of `model` (deploy form, pixel
    input) calibrated on `samples`; yields (converter, calibration pixels). What quantize="int8"
    converts, and what the quantization debugger (export.int8_accuracy.layer_errors) inspects."""
    tf = _tf()
    pixels = _calibration_pixels(samples, cfg)
    with _serving_saved_model(model, cfg, True) as d:
        conv = tf.lite.TFLiteConverter.from_saved_model(d)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = {"uint8": tf.uint8, "int8": tf.int8}[int8_io]
        conv.inference_input_type = io
        conv.inference_output_type = io

        def representative():
            it = pixels
            if progress:
                from tqdm import tqdm
                it = tqdm(pixels, desc="int8 calibration", unit="img", leave=False)
            for p in it:
                yield [p.astype(np.float32)]
        conv.representative_dataset = representative
        yield conv, pixels


def _mixed_quantize(conv, int8_io: str, float_ops, float_nodes) -> bytes:
    """Calibrate with `conv`, then quantize with MLIR's quantizer keeping the ops in `float_ops`
    (TFLite builtin names) and the tensors in `float_nodes` (output tensor names) in float32:
    what the quantization debugger's denylists do (QuantizationDebugger.get_nondebug_quantized_model)."""
    tf = _tf()
    from tensorflow.lite.python.convert import mlir_quantize
    conv._experimental_calibrate_only = True   # the quantization debugger's own route
    calibrated = conv.convert()
    io = {"uint8": tf.uint8, "int8": tf.int8}[int8_io]
    return mlir_quantize(calibrated, disable_per_channel=False, input_data_type=io, output_data_type=io,
                         denylisted_ops=list(float_ops) or None, denylisted_nodes=list(float_nodes) or None)


def convert(model, cfg: ServingCfg, quantize: str, *, samples=None, int8_io: str = "uint8",
            pixel_input: bool = True, progress: bool = False, float_ops=None, float_nodes=()) -> bytes:
    """The TFLite flatbuffer of `model` (already in deploy form)."""
    tf = _tf()
    integer = quantize in INTEGER
    pixel_input = pixel_input or integer
    try:
        with contextlib.ExitStack() as stack:
            if integer:
                conv, _ = stack.enter_context(int8_converter(model, cfg, samples, int8_io=int8_io, progress=progress))
            else:
                d = stack.enter_context(_serving_saved_model(model, cfg, pixel_input))
                conv = tf.lite.TFLiteConverter.from_saved_model(d)
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
                if quantize == "fp16":
                    conv.optimizations = [tf.lite.Optimize.DEFAULT]
                    conv.target_spec.supported_types = [tf.float16]
                elif quantize == "dynamic":
                    conv.optimizations = [tf.lite.Optimize.DEFAULT]
            with quiet_stderr():   # the converter's "fully_quantize: 0, inference_type: 6, ..." lines
                if quantize == "int8-mixed":
                    return _mixed_quantize(conv, int8_io, INT8_MIXED_FLOAT_OPS if float_ops is None else float_ops,
                                           float_nodes)
                return conv.convert()
    except Exception as e:  # noqa: BLE001 - converter errors become one actionable error
        msg = str(e)
        flex = _flex_ops(msg)
        if flex or "ERROR_NEEDS_FLEX_OPS" in msg or "Select TensorFlow op" in msg:
            raise ExportError(
                f"{cfg.name} needs TensorFlow ops that are not TFLite builtins: {', '.join(flex) or msg[:300]}. "
                f"Flex (SELECT_TF_OPS) models cannot run in LiteRT's Python runtime or be int8-calibrated; "
                f"give the layer a builtin-only deploy form (to_deploy()) or replace the op.") from None
        raise ExportError(f"TFLite conversion of {cfg.name} ({quantize}) failed: {type(e).__name__}: "
                          f"{msg.strip().splitlines()[0] if msg.strip() else ''}") from e


def check_converted(model_bytes: bytes, cfg: ServingCfg, quantize: str, int8_io: str) -> dict:
    """Raise ExportError for Flex/custom ops, near-zero scales or a wrong input contract."""
    info = inspect_tflite(model_bytes)
    if info["flex_or_custom"]:
        raise ExportError(f"{cfg.name}: the TFLite file has non-builtin ops {info['flex_or_custom']}; "
                          f"replace them (deploy form) so the model runs on every LiteRT runtime")
    inp = info["inputs"][0]
    if inp["shape"][:1] != [1]:
        raise ExportError(f"internal error: TFLite input batch is {inp['shape']}, expected 1")
    if quantize in INTEGER:
        want_zp = 0 if int8_io == "uint8" else -128
        if inp["type"] != int8_io.upper() or not (inp["scales"].size == 1 and abs(inp["scales"][0] - 1.0) < 1e-6
                                                  and int(inp["zero_points"][0]) == want_zp):
            raise ExportError(
                f"{cfg.name}: int8 input quantization is {inp['type']} scale {inp['scales']} zero point "
                f"{inp['zero_points']}, not raw pixels (scale 1, zero point {want_zp}); MediaPipe would feed it "
                f"wrong values")
        if info["near_zero_scales"]:
            names = info["near_zero_scales"]
            raise ExportError(
                f"{cfg.name}: {len(names)} int8 activation tensor(s) got a near-zero quantization scale "
                f"(< {NEAR_ZERO_SCALE:g}), e.g. {names[:3]}: the calibration data never activated them, and "
                f"XNNPACK refuses such models. Calibrate on more, real, correctly preprocessed images.")
    return info


def xnnpack_coverage(interpreter) -> dict | None:
    """What LiteRT's XNNPACK delegate runs of an interpreter loaded with the default delegates:
    {"nodes": the model's op count, "partitions": delegated pieces, "undelegated": {op: count}}
    (ops left to LiteRT's own kernels), or None where the runtime does not list its nodes.

    Each op the delegate leaves out costs twice: its own kernel (often a single-threaded
    reference one: int8 BATCH_MATMUL ran 30-50x slower than XNNPACK's) and a cut between two
    delegated pieces. Read from the node list, where each delegated piece is one DELEGATE node
    whose inputs and outputs are its boundary tensors: an op is outside the delegate when a
    delegated piece (or the graph's output) takes its output without a piece producing it, or
    when an op already found outside takes it."""
    try:
        nodes = interpreter._get_ops_details()
        outputs = {d["index"] for d in interpreter.get_output_details()}
    except (AttributeError, ValueError, RuntimeError):
        return None
    pieces = [n for n in nodes if n["op_name"] == "DELEGATE"]
    ops = [n for n in nodes if n["op_name"] != "DELEGATE"]
    piece_in = {t for n in pieces for t in n["inputs"]}
    piece_out = {t for n in pieces for t in n["outputs"]}
    taken_by: dict[int, list[int]] = {}
    for n in ops:
        for t in n["inputs"]:
            taken_by.setdefault(int(t), []).append(n["index"])
    outside = {n["index"] for n in ops
               if any(t not in piece_out and (t in piece_in or t in outputs) for t in n["outputs"])}
    grew = True
    while grew:
        new = {n["index"] for n in ops if n["index"] not in outside and any(
            t not in piece_out and any(c in outside for c in taken_by.get(int(t), ())) for t in n["outputs"])}
        outside |= new
        grew = bool(new)
    counts: dict[str, int] = {}
    for n in ops:
        if n["index"] in outside:
            counts[n["op_name"]] = counts.get(n["op_name"], 0) + 1
    return {"nodes": len(ops), "partitions": len(pieces), "undelegated": dict(sorted(counts.items()))}


def xnnpack_summary(coverage: dict) -> str:
    """`xnnpack_coverage`'s result in one line."""
    left = coverage["undelegated"]
    if not left:
        return f"runs all {coverage['nodes']} ops"
    pieces = coverage["partitions"]
    return (f"leaves {sum(left.values())} of {coverage['nodes']} ops to LiteRT's own kernels ("
            + ", ".join(f"{op} x{n}" for op, n in left.items())
            + f"), runs the rest in {pieces} piece{'s' if pieces != 1 else ''}")


def load_interpreter(path_or_bytes, default_delegates: bool = True, num_threads: int | None = None):
    """An allocated ai_edge_litert Interpreter (default delegates: what devices use)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as e:
        raise ExportError(f"running TFLite needs ai-edge-litert (pip install ai-edge-litert): {e}") from None
    kw = {"model_path": str(path_or_bytes)} if isinstance(path_or_bytes, (str, Path)) else \
        {"model_content": bytes(path_or_bytes)}
    if not default_delegates:
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if num_threads:
        kw["num_threads"] = num_threads
    try:
        with quiet_stderr():   # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            it = Interpreter(**kw)
            it.allocate_tensors()
    except (RuntimeError, ValueError) as e:
        raise ExportError(f"LiteRT cannot load the model with {'default' if default_delegates else 'builtin'} "
                          f"delegates: {str(e).strip().splitlines()[0]}") from e
    return it


def to_tflite(model, path, quantize: str = "fp32", representative_data=None, *, int8_io: str = "uint8",
              pixel_input: bool = True, metadata="auto", overwrite: bool = False, mean=None, std=None,
              labels=None, crop_pct=None,
              interpolation=None, check_inputs=None, progress: bool = False, float_ops=None,
              float_nodes=()) -> Path:
    """Write `model` as a TFLite flatbuffer at `path` (batch 1, builtin ops only); returns the path.

    path: the file, or an existing folder to write `<name>_<quantize>.tflite` into.
    overwrite: replace an existing TFLite file at that path (never another kind of file).

    quantize: "fp32" | "fp16" (fp16 weights) | "dynamic" (int8 weights, float activations) |
        "int8" (full integer; needs representative_data) | "int8-mixed" (full integer, uint8/int8
        I/O like int8, except `float_ops` and `float_nodes`, which stay float32 between
        DEQUANTIZE/QUANTIZE; needs representative_data). The default op set kept in float is
        INT8_MIXED_FLOAT_OPS: BATCH_MATMUL, SOFTMAX (the attention core), MEAN,
        SQUARED_DIFFERENCE, RSQRT (LayerNorm's decomposition; MEAN is also global pooling), GELU,
        LOGISTIC (sigmoid / SiLU gates), TANH. docs/int8.md measures what it recovers.
    float_ops / float_nodes: int8-mixed only: TFLite builtin op names (e.g. "SOFTMAX") and output
        tensor names (the names tf.lite.experimental.QuantizationDebugger and
        export.int8_accuracy.layer_errors report) to keep in float32; float_ops=None is
        INT8_MIXED_FLOAT_OPS, () none (then only float_nodes).
    representative_data: for int8, an array or iterable of preprocessed NHWC float32 images (what
        the model takes), e.g. export.calibration_data(model, images=...). Use real images from the
        deployment domain; 100-500 are typical.
    int8_io: "uint8" (default; what MediaPipe takes) or "int8": the int8 model's input is raw RGB
        pixels (int8: pixel - 128) and its output the quantized logits.
    pixel_input: True (default): the artifact takes RGB pixels 0..255 at H x W and normalizes
        inside (MediaPipe-compatible); False (float modes only): it takes preprocessed input,
        like the Keras model. See the module docstring.
    metadata: "auto" (image-classifier metadata when the model has labels or a classifier head),
        True, or False. See export.metadata.
    check_inputs: inputs on which swapped deploy forms must match the original (default: the
        verification photos, preprocessed).
    """
    if quantize not in QUANTIZE:
        raise InvalidArgumentError(f"unsupported quantize={quantize!r}; choose from {list(QUANTIZE)}")
    if int8_io not in INT8_IO:
        raise InvalidArgumentError(f"unsupported int8_io={int8_io!r}; choose from {list(INT8_IO)}")
    if metadata not in ("auto", True, False):
        raise InvalidArgumentError(f"metadata must be 'auto', True or False; got {metadata!r}")
    cfg = serving_cfg(model, mean=mean, std=std, labels=labels, crop_pct=crop_pct, interpolation=interpolation)
    features = (pretrained_cfg(model) or {}).get("num_classes") == 0
    want_md = (not features) if metadata == "auto" else metadata
    if want_md and features:
        raise InvalidArgumentError("TFLite classifier metadata needs a classifier; this model outputs features "
                                   "(num_classes=0): pass metadata=False")
    integer = quantize in INTEGER
    if not pixel_input and integer:
        raise InvalidArgumentError("int8 artifacts take pixels (pixel_input=True): their input is uint8/int8")
    if quantize != "int8-mixed" and (float_ops is not None or tuple(float_nodes or ())):
        raise InvalidArgumentError(f"float_ops / float_nodes apply to quantize='int8-mixed' only (got {quantize!r})")
    if float_ops is not None:
        float_ops = [float_ops] if isinstance(float_ops, str) else list(float_ops)
        bad = [o for o in float_ops if not isinstance(o, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", o)]
        if bad:
            raise InvalidArgumentError(f"float_ops must be TFLite builtin op names such as 'SOFTMAX'; got {bad}")
    float_nodes = [float_nodes] if isinstance(float_nodes, str) else list(float_nodes or ())
    samples = None
    if integer:
        cfg.require_normalization("int8 with pixel input")
        samples = _as_samples(representative_data, cfg)
    elif pixel_input:
        cfg.require_normalization("a TFLite model that takes pixels (pixel_input=True; pass "
                                  "pixel_input=False for a model without normalization)")
    elif want_md:
        cfg.require_normalization("TFLite metadata (NormalizationOptions)")
    if want_md:
        from .metadata import _writers
        _writers()  # fail before the long conversion if the writer cannot be imported
    path = file_in_folder(path, f"{cfg.name}_{quantize}.tflite")
    check_target(path, overwrite, "tflite")

    if check_inputs is None:
        check_inputs = default_check_inputs(cfg)
    dmodel, _ = tflite_ready_model(model, check_inputs, quantize)
    buf = convert(dmodel, cfg, quantize, samples=samples, int8_io=int8_io, pixel_input=pixel_input,
                  progress=progress, float_ops=float_ops, float_nodes=float_nodes)
    check_converted(buf, cfg, quantize, int8_io)
    if want_md:
        from .metadata import add_classifier_metadata
        buf = add_classifier_metadata(buf, cfg, pixel_input=pixel_input, quantize=quantize)
    load_interpreter(buf)  # loads with the default delegates (XNNPACK) or fails here
    with staged(path, overwrite, "tflite") as tmp:
        Path(tmp).write_bytes(buf)
    return path


def default_check_inputs(cfg: ServingCfg, n: int = 4) -> np.ndarray:
    """Verification photos preprocessed for the model, or seeded random inputs without a cfg."""
    if cfg.mean is not None:
        from . import photos
        return photos.normalize(photos.to_pixels(photos.verification_photos(n), cfg), cfg)
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *cfg.input_size)).astype(np.float32)
