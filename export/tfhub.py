"""TF Hub: a reusable SavedModel for fine-tuning with `hub.KerasLayer` (tf_keras) and for Keras 3's
`keras.layers.TFSMLayer`.

The SavedModel follows TF Hub's reusable-SavedModel API:
  obj.__call__(image, training=False)  tf.function on float32[batch, H, W, C] (preprocessed, as
      the Keras model takes), returning the logits (or features) tensor; traced for
      training=False and training=True, so BatchNorm/dropout behave as in training when
      fine-tuned;
  obj.variables, obj.trainable_variables, obj.regularization_losses (empty);
  signature serving_default: image -> {"logits": ...} (or {"features": ...}), one named output.
Use it as
  hub.KerasLayer(path, trainable=True)                         # tf_keras (TF_USE_LEGACY_KERAS=1)
  hub.KerasLayer(path, signature="serving_default", output_key="logits")   # frozen, via the signature
  keras.layers.TFSMLayer(path, call_endpoint="serving_default")            # Keras 3, returns a dict
hub.KerasLayer is a tf_keras layer and cannot go into a Keras 3 model (tensorflow/tensorflow#65419);
`import tensorflow_hub` needs setuptools<82 (it imports pkg_resources, tensorflow/hub#934).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from zoo.errors import ExportError
from zoo.factory import pretrained_cfg

from ._cfg import serving_cfg
from ._io import check_target, staged
from .saved_model import INPUT_NAME, track_variables, write_info


def to_tfhub(model, path, *, overwrite: bool = False, mean=None, std=None, labels=None) -> Path:
    """Write `model` as a TF Hub-style reusable SavedModel at `path`; returns the path.

    mean/std/labels: override model.pretrained_cfg (recorded in assets.extra/zoo_export.json; the
    labels also go to assets.extra/labels.txt). The model's input stays preprocessed float32.
    overwrite: replace an existing SavedModel folder at `path` (never other files).
    """
    import tensorflow as tf

    cfg = serving_cfg(model, mean=mean, std=std, labels=labels)
    h, w, c = cfg.input_size
    features = (pretrained_cfg(model) or {}).get("num_classes") == 0
    out_key = "features" if features else "logits"
    spec = tf.TensorSpec((None, h, w, c), tf.float32, name=INPUT_NAME)

    check_target(path, overwrite, "tfhub")
    root = tf.__internal__.tracking.AutoTrackable()
    root.regularization_losses = []

    @tf.function
    def call(image, training=False):
        return model(image, training=training)

    @tf.function(input_signature=[spec])
    def serve(image):
        return {out_key: model(image, training=False)}

    concrete = [call.get_concrete_function(spec, training=False), call.get_concrete_function(spec, training=True),
                serve.get_concrete_function()]
    root.__call__ = call
    root.serve = serve
    track_variables(root, model, concrete)
    with staged(path, overwrite, "tfhub") as tmp, tempfile.TemporaryDirectory():
        try:
            tf.saved_model.save(root, str(tmp), signatures={"serving_default": concrete[-1]})
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"tf.saved_model.save failed for {model.name}: {type(e).__name__}: {e}") from e
        write_info(Path(tmp), "tfhub", cfg, {"serving_default": concrete[-1]},
                   {"output_key": out_key, "usage": "hub.KerasLayer(path, trainable=True)"})
        if cfg.labels:
            (Path(tmp) / "assets.extra" / "labels.txt").write_text("\n".join(cfg.labels) + "\n", encoding="utf-8")
    return Path(path)
