"""Layers against their papers' closed forms (NumPy), re-parameterised forms against the
trained forms, and the checkpoint names of the layers the zoo's networks load."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo.layers as L
from layer_cases import randomize, sample
from zoo.convert import weight_slots
from zoo.layers._blocks import attention, split_qkv
from zoo.layers._nn import fold, unfold
from zoo.layers.coatnet import relative_position_index
from zoo.layers.halo import rel_to_abs_index


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def w(layer_var):
    return np.asarray(layer_var, np.float64)


def ready(layer, shape, seed=0):
    x = sample(shape, seed + 1)
    layer(x)
    randomize(layer, seed)
    return x, np.asarray(layer(x, training=False), np.float64), x.astype(np.float64)


def conv2d_same(x, k, b=0.0):
    """NHWC cross-correlation with symmetric zero padding, (kh, kw, I, O) kernel."""
    kh, kw = k.shape[:2]
    xp = np.pad(x, [(0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)])
    H, W = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (k.shape[3],))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + H, j:j + W, :] @ k[i, j]
    return out + b


# --- closed forms ------------------------------------------------------------------------

def test_se_closed_form():
    layer = L.SEAttention(channel=16, reduction=4)
    _, y, x = ready(layer, (2, 5, 6, 16))
    s = np.maximum(x.mean((1, 2)) @ w(layer.fc1.kernel) + w(layer.fc1.bias), 0) @ w(layer.fc2.kernel) + w(layer.fc2.bias)
    np.testing.assert_allclose(y, x * sigmoid(s)[:, None, None], rtol=1e-5, atol=1e-6)


def test_eca_closed_form():
    layer = L.ECAAttention(kernel_size=3)
    _, y, x = ready(layer, (2, 5, 6, 16))
    k = w(layer.conv.kernel)[:, 0, 0]
    m = np.pad(x.mean((1, 2)), [(0, 0), (1, 1)])
    s = k[0] * m[:, :-2] + k[1] * m[:, 1:-1] + k[2] * m[:, 2:]     # a 1-D conv across channels
    np.testing.assert_allclose(y, x * sigmoid(s)[:, None, None], rtol=1e-5, atol=1e-6)


def test_eca_adaptive_kernel_size():
    # the paper: k = |log2(C) / gamma + b / gamma| made odd
    assert [L.ECAAttention(channel=c).kernel_size for c in (64, 128, 256, 512, 1024, 2048)] == [3, 5, 5, 5, 5, 7]


def test_simam_closed_form():
    layer = L.SimAM(e_lambda=1e-4)
    _, y, x = ready(layer, (2, 5, 6, 16))
    d = (x - x.mean((1, 2), keepdims=True)) ** 2
    e_inv = d / (4 * (d.sum((1, 2), keepdims=True) / (5 * 6 - 1) + 1e-4)) + 0.5
    np.testing.assert_allclose(y, x * sigmoid(e_inv), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("residual", [False, True])
def test_cbam_closed_form(residual):
    layer = L.CBAMBlock(channel=16, reduction=4, kernel_size=7, residual=residual)
    _, y, x = ready(layer, (2, 9, 8, 16))
    k1, k2 = w(layer.ca.se.children_[0].kernel), w(layer.ca.se.children_[2].kernel)

    def mlp(v):
        return np.maximum(v @ k1, 0) @ k2

    mc = sigmoid(mlp(x.max((1, 2))) + mlp(x.mean((1, 2))))
    f1 = x * mc[:, None, None]
    pooled = np.stack([f1.max(-1), f1.mean(-1)], -1)
    ms = sigmoid(conv2d_same(pooled, w(layer.sa.conv.kernel), w(layer.sa.conv.bias)))
    np.testing.assert_allclose(y, f1 * ms + (x if residual else 0), rtol=1e-5, atol=1e-5)


def _gfnet_reference(x, cw):
    """The official GFNet filter: irfft2(rfft2(x, 'ortho') * W, s=(H, W), 'ortho') over H, W."""
    h, wd = x.shape[1:3]
    spec = np.fft.rfft2(x, axes=(1, 2), norm="ortho") * (cw[..., 0] + 1j * cw[..., 1])
    return np.fft.irfft2(spec, s=(h, wd), axes=(1, 2), norm="ortho")


@pytest.mark.parametrize("use_dft", [False, True])
@pytest.mark.parametrize("hw", [(6, 8), (7, 9), (5, 5)])
def test_global_filter_matches_numpy_fft(use_dft, hw):
    h, wd = hw
    layer = L.GlobalFilter(8, h=h, w=wd // 2 + 1, use_dft=use_dft)
    _, y, x = ready(layer, (2, h, wd, 8))
    np.testing.assert_allclose(y, _gfnet_reference(x, w(layer.complex_weight)), rtol=1e-5, atol=1e-5)


def test_global_filter_takes_official_token_layout_and_deploys():
    layer = L.GlobalFilter(8, h=6, w=4)
    xt, y, x = ready(layer, (2, 36, 8))                          # (B, H*W, C), H = 6
    ref = _gfnet_reference(x.reshape(2, 6, 6, 8), w(layer.complex_weight)).reshape(2, 36, 8)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    deployed = layer.to_deploy()
    assert deployed.use_dft and deployed is not layer
    np.testing.assert_allclose(np.asarray(deployed(xt)), y, atol=1e-5)


def test_external_attention_closed_form():
    layer = L.ExternalAttention(d_model=16, S=8)
    _, y, x = ready(layer, (2, 10, 16))
    a = softmax(x @ w(layer.mk.kernel), axis=1)                 # over tokens
    a = a / a.sum(2, keepdims=True)                             # over memory slots
    np.testing.assert_allclose(y, a @ w(layer.mv.kernel), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("simple", [False, True])
def test_aft_full_closed_form(simple):
    layer = L.AFT_FULL(d_model=8, n=6, simple=simple)
    _, y, x = ready(layer, (2, 6, 8))
    q, k, v = (x @ w(fc.kernel) + w(fc.bias) for fc in (layer.fc_q, layer.fc_k, layer.fc_v))
    pb = np.zeros((6, 6)) if simple else w(layer.position_biases)
    e = np.exp(k[:, None, :, :] + pb[None, :, :, None])        # (B, t, t', d)
    ref = sigmoid(q) * (e * v[:, None]).sum(2) / e.sum(2)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def _mha(x, q_k, k_k, v_k, o_k, h, mask=None):
    def heads(t):
        b, n, c = t.shape
        return t.reshape(b, n, h, c // h).transpose(0, 2, 1, 3)
    q, k, v = heads(x @ q_k[0] + q_k[1]), heads(x @ k_k[0] + k_k[1]), heads(x @ v_k[0] + v_k[1])
    att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
    if mask is not None:
        att = np.where(mask, -np.inf, att)
    out = softmax(att) @ v
    b, _, n, d = out.shape
    return out.transpose(0, 2, 1, 3).reshape(b, n, h * d) @ o_k[0] + o_k[1]


def test_scaled_dot_product_attention_closed_form_and_mask():
    layer = L.ScaledDotProductAttention(d_model=16, d_k=4, d_v=4, h=2, dropout=0.0)
    xk, y, x = ready(layer, (2, 5, 16))
    kb = [(w(fc.kernel), w(fc.bias)) for fc in (layer.fc_q, layer.fc_k, layer.fc_v, layer.fc_o)]
    np.testing.assert_allclose(y, _mha(x, *kb, h=2), rtol=1e-5, atol=1e-6)
    mask = np.triu(np.ones((5, 5), bool), 1)[None, None]
    y_m = np.asarray(layer(xk, attention_mask=np.broadcast_to(mask, (2, 2, 5, 5))))
    np.testing.assert_allclose(y_m, _mha(x, *kb, h=2, mask=mask), rtol=1e-5, atol=1e-6)


def _attention_reference(q, k, v, scale, bias=0.0, mask=None):
    logits = q @ np.swapaxes(k, -1, -2) * scale + bias
    if mask is not None:
        logits = np.where(mask, logits, -1e9)
    return softmax(logits) @ v


def test_attention_core_closed_form():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)))
    bias = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    mask = rng.uniform(size=(2, 1, 5, 6)) > 0.3
    mask[..., 0] = True                                               # no row fully masked here
    f64 = [t.astype(np.float64) for t in (q, k, v)]
    np.testing.assert_allclose(np.asarray(attention(q, k, v, scale=0.3)), _attention_reference(*f64, 0.3),
                               rtol=1e-5, atol=1e-6)
    y = np.asarray(attention(q, k, v, scale=0.3, bias=bias, mask=mask))
    np.testing.assert_allclose(y, _attention_reference(*f64, 0.3, bias, mask), rtol=1e-5, atol=1e-6)
    # a tensor scale multiplies the logits (External-Attention's attention_weights)
    scale = rng.uniform(0.5, 1.5, (2, 3, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(attention(q, k, v, scale=scale)), _attention_reference(*f64, scale),
                               rtol=1e-5, atol=1e-6)
    assert np.asarray(attention(q[0], k[0], v[0], scale=0.3)).shape == (3, 5, 7)    # any leading axes


def test_attention_core_masked_row_is_finite_and_dropout_only_trains():
    q, k, v = sample((1, 2, 3, 4)), sample((1, 2, 5, 4), 2), sample((1, 2, 5, 4), 3)
    mask = np.ones((1, 1, 3, 5), bool)
    mask[..., 1, :] = False                                           # query 1 may attend nowhere
    y = np.asarray(attention(q, k, v, scale=0.5, mask=mask))
    np.testing.assert_allclose(y[:, :, 1], np.broadcast_to(v.mean(2), y[:, :, 1].shape), atol=1e-6)  # uniform
    drop = keras.layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(np.asarray(attention(q, k, v, scale=0.5, dropout=drop, training=False)),
                                  np.asarray(attention(q, k, v, scale=0.5)))
    assert not np.allclose(np.asarray(attention(q, k, v, scale=0.5, dropout=drop, training=True)),
                           np.asarray(attention(q, k, v, scale=0.5)))


@pytest.mark.parametrize("head_first", [False, True])
def test_split_qkv_layouts(head_first):
    qkv = sample((2, 5, 3 * 2 * 4))                                   # 2 heads of 4
    q, k, v = (np.asarray(t) for t in split_qkv(qkv, 2, head_first=head_first))
    t = qkv.reshape(2, 5, 2, 3, 4).transpose(3, 0, 2, 1, 4) if head_first else \
        qkv.reshape(2, 5, 3, 2, 4).transpose(2, 0, 3, 1, 4)
    for got, want in zip((q, k, v), t):
        np.testing.assert_array_equal(got, want)


def _gelu(x):
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def test_mlp_is_timm_mlp():
    layer = L.Mlp(12, 6)
    _, y, x = ready(layer, (2, 5, 8))
    h = _gelu(x @ w(layer.fc1.kernel) + w(layer.fc1.bias))             # exact (erf) GELU, nn.GELU's
    np.testing.assert_allclose(y, h @ w(layer.fc2.kernel) + w(layer.fc2.bias), rtol=1e-5, atol=1e-6)
    silu = L.Mlp(act="silu", bias=False)                               # hidden and out default to the input's
    _, y, x = ready(silu, (2, 8))
    h = x @ w(silu.fc1.kernel)
    np.testing.assert_allclose(y, (h * sigmoid(h)) @ w(silu.fc2.kernel), rtol=1e-5, atol=1e-6)
    assert silu.compute_output_shape((None, 8)) == (None, 8) and layer.compute_output_shape((None, 5, 8)) == (None, 5, 6)


def test_mlp_config_dropout_and_keras_file(tmp_path):
    layer = L.Mlp(16, 4, act="silu", drop=(0.0, 0.5), name="mlp")
    inp = keras.Input((3, 8))
    model = keras.Model(inp, layer(inp))
    x = sample((2, 3, 8))
    randomize(layer)
    clone = L.Mlp.from_config(layer.get_config())
    assert (clone.drop_rates, clone.act_name, clone.hidden_features) == ((0.0, 0.5), "silu", 16)
    y = np.asarray(model(x, training=False))
    assert not np.allclose(np.asarray(model(x, training=True)), y)      # drop2 acts in training
    model.save(tmp_path / "mlp.keras")
    np.testing.assert_array_equal(np.asarray(keras.models.load_model(tmp_path / "mlp.keras")(x)), y)


def test_double_attention_closed_form():
    layer = L.DoubleAttention(8, 6, 5, reconstruct=True)
    _, y, x = ready(layer, (2, 4, 3, 8))
    t = x.reshape(2, 12, 8)
    a, bb, vv = (t @ w(c.kernel) + w(c.bias) for c in (layer.convA, layer.convB, layer.convV))
    g = a.transpose(0, 2, 1) @ softmax(bb, axis=1)             # gather: (B, c_m, c_n)
    z = softmax(vv, axis=2) @ g.transpose(0, 2, 1)             # distribute: (B, N, c_m)
    z = z @ w(layer.conv_reconstruct.kernel) + w(layer.conv_reconstruct.bias)
    np.testing.assert_allclose(y, z.reshape(2, 4, 3, 8), rtol=1e-5, atol=1e-6)


def _infini_reference(layer, x, seg):
    h, dk = layer.h, layer.d_k
    lin = [(w(fc.kernel), w(fc.bias)) for fc in (layer.fc_q, layer.fc_k, layer.fc_v, layer.fc_o)]

    def heads(t):
        b, n, c = t.shape
        return t.reshape(b, n, h, c // h).transpose(0, 2, 1, 3)

    q, k, v = (heads(x @ kk + bb) for kk, bb in lin[:3])
    sig = lambda t: np.where(t > 0, t + 1, np.exp(t))          # ELU + 1
    gate = sigmoid(w(layer.betas))[None, :, None, None]
    mem = np.zeros((x.shape[0], h, dk, v.shape[-1]))
    z = np.zeros((x.shape[0], h, dk, 1))
    outs = []
    for s in range(x.shape[1] // seg):
        qs, ks, vs = (t[:, :, s * seg:(s + 1) * seg] for t in (q, k, v))
        att = qs @ ks.transpose(0, 1, 3, 2) / np.sqrt(dk)
        att = np.where(np.tril(np.ones((seg, seg), bool)), att, -np.inf)
        a_dot = softmax(att) @ vs
        a_mem = np.zeros_like(a_dot) if s == 0 else (sig(qs) @ mem) / (sig(qs) @ z)
        outs.append(gate * a_mem + (1 - gate) * a_dot)
        upd = vs if (s == 0 or not layer.delta_rule) else vs - (sig(ks) @ mem) / (sig(ks) @ z)
        mem = mem + sig(ks).transpose(0, 1, 3, 2) @ upd
        z = z + sig(ks).sum(2)[..., None]
    out = np.concatenate(outs, 2).transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], -1)
    return out @ lin[3][0] + lin[3][1]


@pytest.mark.parametrize("delta_rule", [False, True])
@pytest.mark.parametrize("segment_len", [None, 4])
def test_infini_attention_compressive_memory(delta_rule, segment_len):
    layer = L.InfiniAttention(d_model=8, h=2, segment_len=segment_len, delta_rule=delta_rule)
    _, y, x = ready(layer, (2, 12, 8))
    np.testing.assert_allclose(y, _infini_reference(layer, x, segment_len or 12), rtol=1e-4, atol=1e-5)


def test_infini_attention_memory_carries_context_across_segments():
    layer = L.InfiniAttention(d_model=8, h=2, segment_len=4)
    x, y, _ = ready(layer, (1, 8, 8))
    x2 = x.copy()
    x2[:, :4] += 1.0                                    # change only the first segment
    y2 = np.asarray(layer(x2))
    assert np.abs(y2[:, 4:] - y[:, 4:]).max() > 1e-3    # the second segment sees it through memory


def test_stn_starts_as_identity():
    layer = L.SpatialTransformer(3)
    x = sample((2, 7, 9, 3))
    np.testing.assert_allclose(np.asarray(layer(x)), x, atol=1e-5)     # fresh: identity transform


def test_stn_translation_by_one_pixel():
    layer = L.SpatialTransformer(1)
    x = sample((1, 6, 8, 1))
    theta = np.array([[[1, 0, 2 / 8], [0, 1, 0]]], np.float32)        # +1 pixel along W
    from zoo.layers.stn import affine_grid_sample
    y = np.asarray(affine_grid_sample(x, theta))
    np.testing.assert_allclose(y[:, :, :-1], x[:, :, 1:], atol=1e-5)
    np.testing.assert_allclose(y[:, :, -1], 0, atol=1e-6)              # zero padding
    del layer


def test_odconv_matches_per_sample_convolution():
    layer = L.ODConv2d(6, 5, 3, stride=1, padding=1, kernel_num=3)
    _, y, x = ready(layer, (2, 5, 4, 6))
    att = layer.attention
    z = np.maximum(_bn(x.mean((1, 2)) @ w(att.fc.kernel), att.bn), 0)
    ch = sigmoid(z @ w(att.channel_fc.kernel) + w(att.channel_fc.bias))
    fi = sigmoid(z @ w(att.filter_fc.kernel) + w(att.filter_fc.bias))
    sp = sigmoid(z @ w(att.spatial_fc.kernel) + w(att.spatial_fc.bias)).reshape(2, 3, 3)
    ke = softmax(z @ w(att.kernel_fc.kernel) + w(att.kernel_fc.bias))
    weight = w(layer.weight)                                            # (n, k, k, I, O)
    for b in range(2):
        kern = np.einsum("n,nijco->ijco", ke[b], weight) * sp[b][:, :, None, None]
        ref = conv2d_same((x[b] * ch[b])[None], kern)[0] * fi[b]
        np.testing.assert_allclose(y[b], ref, rtol=1e-4, atol=1e-5)


def _bn(v, bn):
    return (v - w(bn.moving_mean)) / np.sqrt(w(bn.moving_variance) + bn.epsilon) * w(bn.gamma) + w(bn.beta)


# --- unfold / fold, index tables ------------------------------------------------------------

@pytest.mark.parametrize("k,s,p", [(3, 1, 1), (3, 2, 1), (2, 2, 0), (4, 2, 1)])
def test_unfold_matches_loops_and_fold_is_its_adjoint(k, s, p):
    x = sample((2, 7, 6, 3))
    u = np.asarray(unfold(x, k, s, p))
    xp = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
    for i in range(u.shape[1]):
        for j in range(u.shape[2]):
            np.testing.assert_array_equal(u[:, i, j], xp[:, i * s:i * s + k, j * s:j * s + k])
    patches = sample(u.shape, seed=3)
    f = np.asarray(fold(patches, (7, 6), k, s, p))
    # <unfold(x), P> == <x, fold(P)>: fold sums each window back where it came from
    np.testing.assert_allclose((u * patches).sum(), (x * f).sum(), rtol=1e-5)


def test_relative_position_index_is_the_offset_table():
    idx = relative_position_index((3, 4))
    coords = [(i, j) for i in range(3) for j in range(4)]
    for a, (i1, j1) in enumerate(coords):
        for b, (i2, j2) in enumerate(coords):
            assert idx[a, b] == (i1 - i2 + 2) * (2 * 4 - 1) + (j1 - j2 + 3)


def test_halo_relative_index_is_the_offset_table():
    # row (R-1) + (key position - query position) of the (2R-1)-row table, R = block + 2*halo
    for b, r in ((2, 4), (4, 6), (3, 7)):
        idx = rel_to_abs_index(b, r)
        assert all(idx[i, j] == r - 1 + j - i for i in range(b) for j in range(r))


# --- re-parameterisation ----------------------------------------------------------------

def _fused_equal(layer, shape):
    x, y, _ = ready(layer, shape)
    fused = layer.fuse()
    assert fused.deploy and layer.to_deploy().deploy
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), y, atol=1e-5)
    clone = type(fused).from_config(fused.get_config())      # the deploy form serialises too
    clone(x)
    clone.set_weights(fused.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), y, atol=1e-5)
    again = fused.fuse()                                     # fusing the fused form copies it
    assert again is not fused
    np.testing.assert_allclose(np.asarray(again(x)), y, atol=1e-5)
    return fused


@pytest.mark.parametrize("cin,cout,stride,groups", [(8, 8, 1, 1), (8, 8, 2, 1), (8, 12, 1, 2), (8, 8, 1, 4),
                                                    (6, 8, 2, 2)])
def test_repvgg_fuse(cin, cout, stride, groups):
    fused = _fused_equal(L.RepVGGBlock(cin, cout, groups=groups, stride=stride), (2, 7, 6, cin))
    assert [v.name for v in fused.weights] == ["kernel", "bias"]


@pytest.mark.parametrize("cin,cout,k,stride", [(8, 8, 3, 1), (8, 6, 3, 2), (4, 8, 5, 1)])
def test_acnet_fuse(cin, cout, k, stride):
    _fused_equal(L.ACNetBlock(cin, cout, kernel_size=k, stride=stride), (2, 7, 6, cin))


@pytest.mark.parametrize("hw,part,kernels,groups", [((4, 6), (2, 3), [1, 3], 2), ((4, 4), (4, 4), [3], 1),
                                                    ((6, 6), (3, 3), None, 4), ((4, 4), (2, 2), [1, 3, 5], 1)])
def test_repmlp_fuse(hw, part, kernels, groups):
    layer = L.RepMLPBlock(8, 8, *hw, *part, fc1_fc2_reduction=2, fc3_groups=groups, repconv_kernels=kernels)
    fused = _fused_equal(layer, (2, *hw, 8))
    assert not any("repconv" in v.path or "bn" in v.path for v in fused.weights)


def test_parnet_fuse():
    fused = _fused_equal(L.ParNetAttention(channel=8), (2, 6, 5, 8))
    assert fused.rbr_1x1 is None


# --- checkpoint names of the layers the zoo's networks load -------------------------------

def _keys(layer, shape, prefix="m"):
    inp = keras.Input(shape)
    model = keras.Model(inp, layer(inp))
    return set(weight_slots(model))


def _bn_keys(p):
    return {f"{p}.weight", f"{p}.bias", f"{p}.running_mean", f"{p}.running_var"}


def test_names_mlp_match_timm():
    assert _keys(L.Mlp(8, 4, name="mlp"), (5, 6)) == {"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}
    assert _keys(L.Mlp(8, bias=False, name="mlp"), (6,)) == {"mlp.fc1.weight", "mlp.fc2.weight"}
    keys = _keys(L.MixerBlock(4, 6, 8, 12, name="blk"), (4, 6))
    assert {k for k in keys if ".mlp_" in k} == {f"blk.{m}.{fc}.{p}" for m in ("mlp_tokens", "mlp_channels")
                                                 for fc in ("fc1", "fc2") for p in ("weight", "bias")}


def test_names_coatnet_attention_match_timm():
    keys = _keys(L.CoAtNetAttention(16, dim_head=8, name="attn"), (4, 4, 16))
    assert keys == {"attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
                    "attn.rel_pos.relative_position_bias_table"}


def test_names_mobilevit_match_timm():
    keys = _keys(L.MobileViTAttention(8, 16, patch_size=2, depth=2, num_heads=2, name="b"), (4, 4, 8))
    t = {f"b.transformer.{i}.{n}" for i in range(2) for n in (
        "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
        "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")}
    expected = t | {"b.conv_kxk.conv.weight", "b.conv_1x1.weight", "b.norm.weight", "b.norm.bias",
                    "b.conv_proj.conv.weight", "b.conv_fusion.conv.weight"} | _bn_keys("b.conv_kxk.bn") | \
        _bn_keys("b.conv_proj.bn") | _bn_keys("b.conv_fusion.bn")
    assert keys == expected
    keys = _keys(L.MobileViTv2Attention(16, name="attn"), (4, 6, 16))
    assert keys == {"attn.qkv_proj.weight", "attn.qkv_proj.bias", "attn.out_proj.weight", "attn.out_proj.bias"}


def test_names_global_filter_and_parnet_match_official():
    assert _keys(L.GlobalFilter(16, 8, 5, name="filter"), (8, 8, 16)) == {"filter.complex_weight"}
    keys = _keys(L.ParNetAttention(8, name="blk"), (5, 5, 8))
    assert keys == ({"blk.rbr_dense.conv.weight", "blk.rbr_1x1.conv.weight", "blk.se.cvsig.conv.weight"}
                    | _bn_keys("blk.rbr_dense.bn") | _bn_keys("blk.rbr_1x1.bn") | _bn_keys("blk.rbr_identity"))
    keys = _keys(L.ParNetAttention(8, deploy=True, name="blk"), (5, 5, 8))   # the official fused layout
    assert keys == {"blk.rbr_dense.weight", "blk.rbr_dense.bias", "blk.se.cvsig.conv.weight"} | \
        _bn_keys("blk.rbr_identity")


def test_torch_layouts_are_converted():
    """Raw weights whose Keras layout differs from PyTorch's say how to convert them."""
    od = L.ODConv2d(4, 6, 3, padding=1, kernel_num=2)
    od(sample((1, 5, 5, 4)))
    t = np.random.default_rng(0).standard_normal((2, 6, 4, 3, 3))      # (n, O, I, kh, kw)
    k = od.torch_to_keras("weight", t)
    assert k.shape == tuple(od.weight.shape) and k[1, 2, 0, 3, 5] == t[1, 5, 3, 2, 0]
    sa = L.ShuffleAttention(16, G=2)
    assert sa.torch_to_keras("cweight", np.ones((1, 4, 1, 1))).shape == (4,)


def test_deploy_forms_swap_in_with_clone_model():
    """What `export` does: clone the model, replacing every layer that has a deploy form."""
    inp = keras.Input((6, 6, 8))
    x = L.RepVGGBlock(8, 8, name="rep")(inp)
    x = L.GlobalFilter(8, 6, 4, name="filter")(x)
    x = L.ACNetBlock(8, 4, stride=2, name="ac")(x)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D(name="pool")(x))
    for layer in model.layers:
        randomize(layer, seed=3)
    deployed = keras.models.clone_model(
        model, clone_function=lambda l: l.to_deploy() if hasattr(l, "to_deploy") else l)
    assert deployed.get_layer("filter").use_dft and deployed.get_layer("rep").deploy
    x = sample((2, 6, 6, 8))
    np.testing.assert_allclose(np.asarray(deployed(x)), np.asarray(model(x, training=False)), atol=1e-5)


def test_training_updates_batch_norm_inside_blocks():
    layer = L.RepVGGBlock(4, 4)
    inp = keras.Input((5, 5, 4))
    model = keras.Model(inp, layer(inp))
    before = np.asarray(layer.rbr_dense.children_[1].moving_mean).copy()
    model.compile("sgd", "mse")
    model.fit(sample((4, 5, 5, 4)), np.zeros((4, 5, 5, 4), np.float32), epochs=1, verbose=0)
    assert not np.allclose(before, np.asarray(layer.rbr_dense.children_[1].moving_mean))


@pytest.mark.parametrize("shape", [(5, 7), (2, 5, 7), (2, 3, 5, 7)])
def test_zoo_dense_equals_keras_dense_on_every_rank(shape):
    """`_nn.Dense` (a 2-D matmul over (rows, C), bias and activation before the reshape back) is
    `keras.layers.Dense` with the same weights, the activation included, also with a dynamic batch."""
    import tensorflow as tf

    from zoo.layers._nn import Dense, gelu
    ours, ref = Dense(4, activation=gelu), keras.layers.Dense(4, activation=gelu)
    for layer in (ours, ref):
        layer.build(shape)
    rng = np.random.default_rng(0)
    ref.set_weights([rng.standard_normal(v.shape).astype(np.float32) for v in ref.weights])
    ours.set_weights(ref.get_weights())
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(ours(x).numpy(), ref(x).numpy(), rtol=1e-6, atol=1e-6)
    dynamic = tf.function(ours, input_signature=[tf.TensorSpec((None,) + shape[1:], tf.float32)])
    np.testing.assert_allclose(dynamic(x).numpy(), ref(x).numpy(), rtol=1e-6, atol=1e-6)
    assert ours.compute_output_shape(shape) == shape[:-1] + (4,)
    # a dynamic batch alone needs no shape arithmetic: the reshape back is a constant (-1, *inner)
    graph_ops = {op.type for op in dynamic.get_concrete_function().graph.get_operations()}
    assert "Shape" not in graph_ops, graph_ops
    if len(shape) > 2:   # an unknown inner size takes the dynamic shape, and the same values
        inner = tf.function(ours, input_signature=[tf.TensorSpec((None,) * (len(shape) - 1) + shape[-1:], tf.float32)])
        np.testing.assert_allclose(inner(x).numpy(), ref(x).numpy(), rtol=1e-6, atol=1e-6)


def _kernels_run(fn, shape):
    """The op types TensorFlow ran for `fn` on a `shape` input, graph optimizer included (weights frozen)."""
    import re

    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    frozen = convert_variables_to_constants_v2(tf.function(fn).get_concrete_function(tf.TensorSpec(shape, tf.float32)))
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
        inp = [op for op in graph.get_operations() if op.type == "Placeholder"][0].outputs[0]
        with tf.compat.v1.Session(graph=graph) as sess:
            meta = tf.compat.v1.RunMetadata()
            sess.run(graph.get_operations()[-1].outputs[0], {inp: np.ones(shape, np.float32)},
                     options=tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE), run_metadata=meta)
    labels = [n.timeline_label for d in meta.step_stats.dev_stats for n in d.node_stats]
    return {m.group(1) for m in (re.match(r"[^=]* = ([A-Za-z0-9_]+)\(", s) for s in labels) if m}


def test_silu_and_dense_run_fused_with_the_op_before_them():
    """What `_nn.silu` and `_nn.Dense` exist for: on Linux x86 with oneDNN (TensorFlow's default
    there), conv + bias + silu runs as one fused conv kernel, and a Dense on (batch, N, C) tokens
    with a bias and GELU as one fused matmul (Keras' own "silu" and rank-3 Dense leave a separate
    swish / bias add). Elsewhere only that the functions compute what they should."""
    import os
    import platform

    from zoo.layers._nn import Conv2d, dense, gelu, silu
    rng = np.random.default_rng(0)
    conv, fc = Conv2d(8, 3, padding=1), dense(8, "fc", activation=gelu)
    conv.build((1, 6, 6, 4))
    fc.build((2, 5, 4))
    for layer in (conv, fc):
        layer.set_weights([rng.uniform(-1, 1, v.shape).astype(np.float32) for v in layer.weights])
    x = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)
    np.testing.assert_allclose(silu(x).numpy(), x / (1 + np.exp(-x)), rtol=1e-6)
    if not (platform.system() == "Linux" and platform.machine() == "x86_64"
            and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"):
        pytest.skip("grappler's oneDNN fusions are Linux x86 only")
    conv_ops = _kernels_run(lambda x: silu(conv(x)), (1, 6, 6, 4))
    assert "_MklNativeFusedConv2D" in conv_ops and not conv_ops & {"_MklSwish", "Sigmoid", "Mul", "BiasAdd"}, conv_ops
    keras_silu = _kernels_run(lambda x: keras.activations.silu(conv(x)), (1, 6, 6, 4))
    assert "_MklSwish" in keras_silu, keras_silu   # what the written-out form saves
    dense_ops = _kernels_run(fc, (2, 5, 4))
    assert "_MklNativeFusedMatMul" in dense_ops and not dense_ops & {"AddV2", "BiasAdd", "Erf", "Mul"}, dense_ops


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_zoo_layer_norm_equals_keras_layer_norm(tmp_path, dtype):
    """`_nn.LayerNorm` (PyTorch's formula, no NEG) is `keras.layers.LayerNormalization` over the
    last axis: same weights, outputs, gradients and config; a .keras file round trips; only the
    last axis is accepted."""
    import tensorflow as tf

    from zoo.layers._nn import LayerNorm
    ours = LayerNorm(epsilon=1e-6, dtype=dtype, name="ln")
    ref = keras.layers.LayerNormalization(epsilon=1e-6, dtype=dtype, name="ln")
    shape = (2, 5, 16)
    for layer in (ours, ref):
        layer.build(shape)
    rng = np.random.default_rng(0)
    ref.set_weights([rng.uniform(0.5, 1.5, 16).astype(np.float32), rng.uniform(-1, 1, 16).astype(np.float32)])
    ours.set_weights(ref.get_weights())
    x = tf.constant(3 + 2 * rng.standard_normal(shape).astype(np.float32))
    tol = 1e-5 if dtype == "float32" else 2e-3
    np.testing.assert_allclose(np.float32(ours(x)), np.float32(ref(x)), rtol=tol, atol=tol)
    grads = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.cast(layer(x), tf.float32) * tf.range(16, dtype=tf.float32))
        grads.append([np.float32(g) for g in tape.gradient(y, [x, *layer.trainable_weights])])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=10 * tol, atol=10 * tol)
    assert {k: v for k, v in ours.get_config().items() if k != "axis"} == \
        {k: v for k, v in ref.get_config().items() if k != "axis"}
    if dtype == "float32":
        model = keras.Sequential([keras.Input(shape[1:]), ours])
        model.save(tmp_path / "m.keras")
        back = keras.saving.load_model(tmp_path / "m.keras")
        assert type(back.layers[0]) is LayerNorm
        np.testing.assert_allclose(back(x).numpy(), ours(x).numpy(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="last axis"):
        LayerNorm(axis=1)
