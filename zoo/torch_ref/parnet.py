"""PyTorch reference for ParNet: the official `SimpNet` (imankgoyal/NonDeepNetworks @ 777b286,
`imagenet/timm/models/simplenet_impl/simpnet.py` + `repvgg.py` + `utils.py`), re-written from
reading it, with the same module tree, so `state_dict()` keys equal the released checkpoints'.

Only what the released configurations use is kept (`RepVGGOur` always has `avg_pool=True` and
`se_block=True`; ReLU, the activation the official YAMLs end up selecting, see
zoo/models/parnet.py). `fuse()` is the official `fuse_repvgg_block` on every block.
Used by the live parity tests and `zoo convert`'s parity step; needs torch (optional extra).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

REFERENCE = "official ParNet SimpNet (imankgoyal/NonDeepNetworks 777b286), re-implemented in zoo.torch_ref.parnet"

# planes, num_blocks, dropout_lin of the official YAML files (zoo/models/parnet.py PARNETS)
CONFIGS = {
    "parnet_s": ((92, 192, 384, 1280), (5, 6, 6, 1), 0.0),
    "parnet_m": ((128, 256, 512, 2048), (5, 6, 6, 1), 0.0),
    "parnet_l": ((160, 320, 640, 2560), (5, 6, 6, 1), 0.1),
    "parnet_xl": ((200, 400, 800, 3200), (5, 6, 6, 1), 0.1),
}


def _conv_bn(cin, cout, k, stride, padding, groups=1):
    m = nn.Sequential()
    m.add_module("conv", nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False))
    m.add_module("bn", nn.BatchNorm2d(cout))
    return m


def _shuffle(x, groups):
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ConvSig(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, 1, 0, groups=groups, bias=False)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


class SE1(nn.Module):
    def __init__(self, cin, cout, groups, ver):
        super().__init__()
        self.ver = ver
        self.cvsig = ConvSig(cin, cout, groups)

    def forward(self, x):
        g = self.cvsig(F.adaptive_avg_pool2d(x, 1))
        return 2 * g if self.ver == 2 else g


class RepVGGBlock(nn.Module):
    """The official block with avg_pool=True, se_block=True."""

    def __init__(self, cin, cout, stride=1, groups=1, act=nn.ReLU):
        super().__init__()
        self.groups, self.fused = groups, False
        self.nonlinearity = act()
        self.rbr_identity = nn.BatchNorm2d(cin) if cin == cout and stride == 1 else None
        self.rbr_dense = _conv_bn(cin, cout, 3, stride, 1, groups)
        self.rbr_1x1 = _conv_bn(cin, cout, 1, stride, 0, groups) if stride == 1 else \
            nn.Sequential(nn.AvgPool2d(2, 2), _conv_bn(cin, cout, 1, 1, 0, groups))
        self.se = SE1(cin, cout, groups, 1 if self.rbr_identity is not None else 2)

    def forward(self, x):
        out = self.rbr_dense(x)
        if not self.fused:
            out = out + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            ident = self.rbr_identity(x)
            out = out + ident * self.se(ident)
        else:
            out = out * self.se(x)
        out = self.nonlinearity(out)
        return _shuffle(out, self.groups) if self.groups > 1 else out

    @staticmethod
    def _fold(conv, bn):
        std = (bn.running_var + bn.eps).sqrt()
        return conv.weight * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std

    @torch.no_grad()
    def fuse(self):
        """The official fuse_repvgg_block: the 1x1 branch (pooled: x2 nearest, /4, padded [1,0,1,0])
        added into the 3x3, BN folded; rbr_dense becomes a conv with bias."""
        if self.fused:
            return
        w3, b3 = self._fold(self.rbr_dense.conv, self.rbr_dense.bn)
        if isinstance(self.rbr_1x1[0], nn.AvgPool2d):
            w1, b1 = self._fold(self.rbr_1x1[1].conv, self.rbr_1x1[1].bn)
            w1 = F.pad(F.interpolate(w1, scale_factor=2.0, mode="nearest") / 4, [1, 0, 1, 0])
        else:
            w1, b1 = self._fold(self.rbr_1x1.conv, self.rbr_1x1.bn)
            w1 = F.pad(w1, [1, 1, 1, 1])
        c = self.rbr_dense.conv
        conv = nn.Conv2d(c.in_channels, c.out_channels, 3, c.stride, 1, groups=c.groups, bias=True)
        conv.weight.copy_(w3 + w1)
        conv.bias.copy_(b3 + b1)
        self.rbr_dense, self.rbr_1x1, self.fused = conv, nn.Identity(), True


class RepVGGOur(nn.Module):
    def __init__(self, cin, cout, stride=1, groups=1, act=nn.ReLU):
        super().__init__()
        self.block = RepVGGBlock(cin, cout, stride, groups, act)

    def forward(self, x):
        return self.block(x)


class MultiBatchNorm2d(nn.Module):
    def __init__(self, n1, n2):
        super().__init__()
        self.b1, self.b2 = nn.BatchNorm2d(n1), nn.BatchNorm2d(n2)

    def forward(self, x):
        return self.b1(x[0]), self.b2(x[1])


class Concat2d(nn.Module):
    """Concat2d(shuffle=True): interleave the two inputs channel by channel."""

    def forward(self, x):
        b, _, h, w = x[0].shape
        return torch.stack(x, 1).transpose(1, 2).reshape(b, -1, h, w)


class ClassifierHead(nn.Module):
    def __init__(self, cin, num_classes, drop_rate):
        super().__init__()
        self.drop_rate = drop_rate
        self.fc = nn.Linear(cin, num_classes) if num_classes else nn.Identity()

    def forward(self, x):
        x = x.mean((2, 3))
        if self.drop_rate:
            x = F.dropout(x, self.drop_rate, self.training)
        return self.fc(x)


class SimpNet(nn.Module):
    def __init__(self, planes, num_blocks, dropout_lin=0.0, num_classes=1000, in_chans=3, act=nn.ReLU):
        super().__init__()
        last, planes = planes[-1], list(planes[:-1])
        blk = lambda *a, **k: RepVGGOur(*a, act=act, **k)  # noqa: E731
        self.inits = nn.ModuleList([nn.Sequential(blk(in_chans, min(64, planes[0]), 2),
                                                  blk(min(64, planes[0]), planes[0], 2))])
        for cin, cout in zip(planes[:-1], planes[1:]):
            self.inits.append(blk(cin, cout, 2))
        self.streams = nn.ModuleList(nn.Sequential(*[blk(p, p) for _ in range(n - 1)])
                                     for n, p in zip(num_blocks[:-1], planes))
        self.downsamples_2 = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip(planes[:-1], planes[1:])):
            self.downsamples_2.append(blk(cin, cout, 2) if i == 0 else nn.Sequential(
                MultiBatchNorm2d(cin, cin), Concat2d(), blk(2 * cin, cout, 2, groups=2)))
        p = planes[-1]
        self.combine = nn.Sequential(MultiBatchNorm2d(p, p), Concat2d(), blk(2 * p, p, 1, groups=2),
                                     blk(p, last, 2))
        self.head = ClassifierHead(last, num_classes, dropout_lin)

    def forward(self, x):
        xs = []
        for init in self.inits:
            x = init(x)
            xs.append(x)
        y_old = None
        for i, (x, stream) in enumerate(zip(xs, self.streams)):
            y = stream(x)
            if y_old is None:
                y_old = self.downsamples_2[i](y)
            elif i < len(self.downsamples_2):
                y_old = self.downsamples_2[i]((y, y_old))
            else:
                y_old = (y, y_old)
        return self.head(self.combine(y_old))

    def fuse(self):
        for m in self.modules():
            if isinstance(m, RepVGGBlock):
                m.fuse()
        return self


def build(arch: str, num_classes: int = 1000, img_size: int = 224, in_chans: int = 3,
          activation: str = "relu") -> nn.Module:
    """The reference network of `arch` in eval mode (img_size: any multiple of 32; the network
    itself does not depend on it)."""
    if arch not in CONFIGS:
        raise KeyError(f"no ParNet reference for {arch!r}; known: {', '.join(CONFIGS)}")
    if img_size % 32:
        raise ValueError(f"ParNet needs an img_size that is a multiple of 32, got {img_size}")
    planes, num_blocks, drop = CONFIGS[arch]
    act = {"relu": nn.ReLU, "silu": nn.SiLU}[activation]
    return SimpNet(planes, num_blocks, drop, num_classes=num_classes, in_chans=in_chans, act=act).eval()
