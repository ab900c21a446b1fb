"""Live parity of the layers the zoo's networks load against timm's PyTorch modules: the
timm module's own state dict is loaded by name with `zoo.convert.load_torch_state`, so this
checks names, layouts and numerics at once.

Runs in a subprocess: importing torchvision (which timm imports) after TensorFlow has been
loaded crashes the interpreter (segmentation fault) with the wheels of this environment, so
torch and timm must be imported first, in a fresh process.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import json, os, sys
from functools import partial
import numpy as np
import torch, timm                                            # before TensorFlow (see the module docstring)
from timm.layers import ConvNormAct
from timm.layers.pos_embed_rel import RelPosBias
from timm.models import maxxvit, mlp_mixer, mobilevit, volo
from timm.models.byobnet import LayerFn
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import zoo.layers as L
from zoo.convert import load_torch_state

def randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.dtype.is_floating_point:
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.ndim < 2:
                t.copy_(0.3 * torch.randn(t.shape, generator=g))
            else:
                t.copy_(torch.randn(t.shape, generator=g) / np.sqrt(np.prod(t.shape[1:])))
    return module.eval()

def parity(module, layer, x, channels_first=True, rename=lambda k: k, seed=0):
    module = randomize(module, seed)
    state = {f"{layer.name}.{rename(k)}": v.numpy().copy() for k, v in module.state_dict().items()}
    with torch.no_grad():
        ref = module(torch.tensor(x)).numpy()
    xk = np.moveaxis(x, 1, -1) if channels_first else x
    inp = keras.Input(xk.shape[1:])
    model = keras.Model(inp, layer(inp))
    load_torch_state(model, state)
    out = np.asarray(model(xk, training=False))
    if channels_first:
        out = np.moveaxis(out, -1, 1)
    return float(np.abs(out - ref).max() / max(1.0, np.abs(ref).max()))

rng = np.random.default_rng(0)
x = lambda *s: rng.standard_normal(s).astype(np.float32)
silu = LayerFn(conv_norm_act=partial(ConvNormAct, act_layer=torch.nn.SiLU), act=torch.nn.SiLU)
res = {}
for hf, ef in ((True, True), (True, False), (False, True)):
    m = maxxvit.Attention2d(16, 24, dim_head=8, head_first=hf, expand_first=ef,
                            rel_pos_cls=partial(RelPosBias, window_size=(4, 5)))
    m.fused_attn = False
    res[f"CoAtNetAttention head_first={hf} expand_first={ef}"] = parity(
        m, L.CoAtNetAttention(16, 24, dim_head=8, head_first=hf, expand_first=ef, name="attn"), x(2, 16, 4, 5))
res["MobileViTAttention"] = parity(
    mobilevit.MobileVitBlock(8, 8, transformer_dim=16, transformer_depth=2, patch_size=2, num_heads=2, layers=silu),
    L.MobileViTAttention(8, 16, 3, 2, depth=2, num_heads=2, name="blk"), x(2, 8, 4, 6))
res["MobileViTAttention (resized patches)"] = parity(
    mobilevit.MobileVitBlock(8, 8, transformer_dim=16, transformer_depth=1, patch_size=2, num_heads=2, layers=silu),
    L.MobileViTAttention(8, 16, 3, 2, depth=1, num_heads=2, name="blk"), x(2, 8, 5, 7))
res["MobileViTv2Attention"] = parity(mobilevit.LinearSelfAttention(16), L.MobileViTv2Attention(16, name="attn"),
                                     x(2, 16, 4, 6))
res["OutlookAttention stride 1"] = parity(volo.OutlookAttention(16, 2), L.OutlookAttention(16, 2, name="attn"),
                                          x(2, 8, 8, 16), False, lambda k: k.replace("v.", "v_pj."))
res["OutlookAttention stride 2"] = parity(volo.OutlookAttention(16, 2, stride=2),
                                          L.OutlookAttention(16, 2, stride=2, name="attn"),
                                          x(2, 8, 8, 16), False, lambda k: k.replace("v.", "v_pj."))
res["MixerBlock"] = parity(mlp_mixer.MixerBlock(16, 12, mlp_ratio=(0.5, 2.0)), L.MixerBlock(12, 16, 8, 32, name="blk"),
                           x(2, 12, 16), False)
res["gMLPBlock"] = parity(mlp_mixer.SpatialGatingBlock(16, 12, mlp_ratio=2), L.gMLPBlock(16, 12, 16, name="blk"),
                          x(2, 12, 16), False)
# ResMLP's Affine keeps its own alpha/beta names (convert renames gamma/beta of norm layers only)
res["ResMLPBlock"] = parity(mlp_mixer.ResBlock(16, 12), L.ResMLPBlock(16, 12, name="blk"), x(2, 12, 16), False)

class GlobalFilter(torch.nn.Module):   # the official GFNet filter (forward written out)
    def __init__(self, dim, h, w):
        super().__init__()
        self.complex_weight = torch.nn.Parameter(torch.randn(h, w, dim, 2) * 0.02)
        self.h = h
    def forward(self, x):
        b, n, c = x.shape
        x = x.view(b, self.h, n // self.h, c)
        x = torch.fft.rfft2(x, dim=(1, 2), norm="ortho") * torch.view_as_complex(self.complex_weight)
        return torch.fft.irfft2(x, s=(self.h, n // self.h), dim=(1, 2), norm="ortho").reshape(b, n, c)

for dft in (False, True):
    res[f"GlobalFilter use_dft={dft}"] = parity(GlobalFilter(16, 8, 5), L.GlobalFilter(16, 8, 5, use_dft=dft,
                                                                                         name="filter"),
                                                x(2, 72, 16), False)
print("RESULT " + json.dumps(res))
'''


def test_parity_with_timm_modules():
    # find, never import: timm (torchvision) must not be imported into this TensorFlow process
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("timm") is None:
        pytest.skip("needs the torch extra (torch, timm)")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"parity script failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(lines[-1][len("RESULT "):])
    bad = {k: v for k, v in results.items() if not v < 1e-5}
    assert not bad, f"relative max |diff| above 1e-5: {bad}"
    assert len(results) == 13
