"""Batch augmentation on the device: one affine warp per batch, independent draws per image.

Each image gets its own random horizontal flip, rotation within +-degrees and random resized crop
(area fraction in [scale, 1], aspect ratio in [3/4, 4/3], anywhere inside the image), composed into
one 2x3 matrix (a whole epoch's at once); `warp` applies a batch's matrices with one sampling grid
and one `grid_sample`. That is one warp per batch
instead of a chain of per-sample PIL operations (and torchvision's v2 transforms would share one
draw across a whole batch).

The random numbers are drawn once per epoch from a generator seeded by (seed, epoch), in the
epoch's sample order, and mapped through each arm's settings: arms with the same settings see the
same augmented images, and arms with different settings share the underlying draws.
"""

import functools
import math

import torch
import torch.nn.functional as F

N_DRAWS = 6  # flip, angle, area, log-ratio, x position, y position


def epoch_draws(n: int, seed: int, epoch: int) -> torch.Tensor:
    """(n, 6) uniforms in [0, 1) for the epoch's n samples, the same for every arm."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 2 + 1)
    return torch.rand(n, N_DRAWS, generator=g)


def affine_matrices(u: torch.Tensor, flip: bool, rotate_deg: float, scale: float) -> torch.Tensor:
    """(B, 2, 3) matrices mapping output to input coordinates (affine_grid's convention)."""
    sign = torch.where((u[:, 0] < 0.5) & flip, -1.0, 1.0).to(u)
    angle = (u[:, 1] * 2 - 1) * math.radians(rotate_deg)
    area = scale + (1 - scale) * u[:, 2]
    log_ratio = (u[:, 3] * 2 - 1) * math.log(4 / 3)
    ratio = torch.exp(log_ratio)
    # Crop side lengths as fractions of the image, at most the whole image.
    sw = torch.sqrt(area * ratio).clamp(max=1.0)
    sh = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (u[:, 4] * 2 - 1) * (1 - sw)
    cy = (u[:, 5] * 2 - 1) * (1 - sh)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # input = Crop(Rotate(Flip(output))): [[sw,0,cx],[0,sh,cy]] @ [[cos,-sin],[sin,cos]] @ diag(f,1)
    theta = torch.empty(u.shape[0], 2, 3, dtype=u.dtype, device=u.device)
    theta[:, 0, 0] = sw * cos * sign
    theta[:, 0, 1] = -sw * sin
    theta[:, 0, 2] = cx
    theta[:, 1, 0] = sh * sin * sign
    theta[:, 1, 1] = sh * cos
    theta[:, 1, 2] = cy
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """x: (B, C, H, W) floats through theta: (B, 2, 3) from affine_matrices, zero fill outside the
    image. The same as affine_grid + grid_sample, but the sampling
    grid is one matrix multiply of a cached base grid by every image's matrix side by side:
    affine_grid would rebuild its base grid on every call and multiply it in a batched GEMM with
    an inner dimension of 3, which on the CPU costs as much as the sampling itself."""
    b, _, h, w = x.shape
    base = _base_grid(h, w, x.device, x.dtype)  # (H*W, 3): output pixel centres, homogeneous
    side_by_side = theta.to(x.dtype).permute(2, 0, 1).reshape(3, b * 2)  # [k, image * 2 + j]
    grid = (base @ side_by_side).view(h * w, b, 2).transpose(0, 1).reshape(b, h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@functools.cache
def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=dtype, device=device)
    xy = F.affine_grid(identity, [1, 1, h, w], align_corners=False).view(h * w, 2)
    return torch.cat([xy, torch.ones(h * w, 1, dtype=dtype, device=device)], 1)
