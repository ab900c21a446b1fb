"""GFNet in PyTorch: our re-implementation of raoyongming/GFNet `gfnet.py` (`GFNet`,
`GFNetPyramid` and their blocks), for parity checks of converted official checkpoints.

Written from reading the official file, module for module, so that `state_dict()` has exactly
the official checkpoints' keys (`patch_embed.proj`, `pos_embed`, `blocks.N.{norm1,filter,norm2,
mlp.fc1,mlp.fc2}`, `blocks.S.N.gamma`, `patch_embed.S.proj`, `norm`, `head`) and the forward pass
is the official one: tokens (B, N, C), `rfft2` / `irfft2` with norm='ortho' over the token grid in
float32, LayerNorm eps 1e-6, exact GELU, one residual per block, mean over tokens. Training-only
parts (dropout, stochastic depth) are kept; weight init is left at PyTorch's defaults (parity
runs load a checkpoint). Configurations: the official `infer.py`'s.
"""
from __future__ import annotations

import torch
from torch import nn

REFERENCE = "raoyongming/GFNet gfnet.py (zoo.torch_ref.gfnet)"

ARCHS = {
    "gfnet_ti": dict(embed_dim=256, depth=12),
    "gfnet_xs": dict(embed_dim=384, depth=12),
    "gfnet_s": dict(embed_dim=384, depth=19),
    "gfnet_b": dict(embed_dim=512, depth=19),
    "gfnet_h_ti": dict(embed_dim=(64, 128, 256, 512), depth=(3, 3, 10, 3), drop_path_rate=0.1),
    "gfnet_h_s": dict(embed_dim=(96, 192, 384, 768), depth=(3, 3, 10, 3), drop_path_rate=0.2, init_values=1e-5),
    "gfnet_h_b": dict(embed_dim=(96, 192, 384, 768), depth=(3, 3, 27, 3), drop_path_rate=0.4, init_values=1e-6),
}


class DropPath(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    def __init__(self, dim, hidden, drop=0.0):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class GlobalFilter(nn.Module):
    def __init__(self, dim, h, w):
        super().__init__()
        self.complex_weight = nn.Parameter(torch.randn(h, w, dim, 2) * 0.02)
        self.h, self.w = h, w

    def forward(self, x):
        b, n, c = x.shape
        a = self.h                      # the official code takes sqrt(N) for both sides
        x = x.view(b, a, n // a, c).to(torch.float32)
        x = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
        x = x * torch.view_as_complex(self.complex_weight)
        x = torch.fft.irfft2(x, s=(a, n // a), dim=(1, 2), norm="ortho")
        return x.reshape(b, n, c)


class Block(nn.Module):
    """Block (layer_scale None) or BlockLayerScale (its `gamma`)."""

    def __init__(self, dim, h, w, mlp_ratio=4.0, drop=0.0, drop_path=0.0, layer_scale=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.filter = GlobalFilter(dim, h, w)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        if layer_scale is not None:
            self.gamma = nn.Parameter(layer_scale * torch.ones(dim))
        else:
            self.gamma = None

    def forward(self, x):
        y = self.mlp(self.norm2(self.filter(self.norm1(x))))
        if self.gamma is not None:
            y = self.gamma * y
        return x + self.drop_path(y)


class PatchEmbed(nn.Module):
    """PatchEmbed (patch > 2) and DownLayer (2x2 stride 2): conv, then tokens (B, N, C)."""

    def __init__(self, in_chans, dim, patch, grid=None):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)
        self.grid = grid               # DownLayer: the incoming token grid side

    def forward(self, x):
        if self.grid is not None:      # tokens -> map
            b, n, c = x.shape
            x = x.view(b, self.grid, n // self.grid, c).permute(0, 3, 1, 2)
        return self.proj(x).flatten(2).transpose(1, 2)


class GFNet(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0):
        super().__init__()
        h = img_size // patch_size
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, h * h, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(Block(embed_dim, h, h // 2 + 1, mlp_ratio, drop_rate, dpr[i])
                                    for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x):
        x = self.pos_drop(self.patch_embed(x) + self.pos_embed)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x).mean(1)

    def forward(self, x):
        return self.head(self.forward_features(x))


class GFNetPyramid(nn.Module):
    def __init__(self, img_size=224, patch_size=4, in_chans=3, num_classes=1000, embed_dim=(64, 128, 256, 512),
                 depth=(2, 2, 10, 4), mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0, init_values=0.001):
        super().__init__()
        sizes = [s * img_size // 224 for s in (56, 28, 14, 7)]
        self.patch_embed = nn.ModuleList([PatchEmbed(in_chans, embed_dim[0], patch_size)])
        self.pos_embed = nn.Parameter(torch.zeros(1, sizes[0] * sizes[0], embed_dim[0]))
        for i in range(3):
            self.patch_embed.append(PatchEmbed(embed_dim[i], embed_dim[i + 1], 2, grid=sizes[i]))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depth)).tolist()
        self.blocks, cur = nn.ModuleList(), 0
        for i in range(4):
            self.blocks.append(nn.Sequential(*[
                Block(embed_dim[i], sizes[i], sizes[i] // 2 + 1, mlp_ratio, drop_rate, dpr[cur + j], init_values)
                for j in range(depth[i])]))
            cur += depth[i]
        self.norm = nn.LayerNorm(embed_dim[-1], eps=1e-6)
        self.head = nn.Linear(embed_dim[-1], num_classes) if num_classes else nn.Identity()

    def forward_features(self, x):
        for i in range(4):
            x = self.patch_embed[i](x)
            if i == 0:
                x = x + self.pos_embed     # the official forward applies no pos_drop here
            x = self.blocks[i](x)
        return self.norm(x).mean(1)

    def forward(self, x):
        return self.head(self.forward_features(x))


def build(arch: str, num_classes: int = 1000, img_size: int = 224, in_chans: int = 3) -> nn.Module:
    """The official model of `arch` (infer.py's arguments) at a square `img_size`."""
    if arch not in ARCHS:
        raise KeyError(f"no GFNet reference for {arch!r}; known: {', '.join(ARCHS)}")
    args = dict(ARCHS[arch])
    if isinstance(args["depth"], tuple):
        return GFNetPyramid(img_size=img_size, in_chans=in_chans, num_classes=num_classes, **args)
    args.pop("drop_path_rate", None)
    return GFNet(img_size=img_size, in_chans=in_chans, num_classes=num_classes, **args)
