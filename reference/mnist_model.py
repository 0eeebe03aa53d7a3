"""Reference solution of the hw1 MNIST target: a small CNN and its training routine.

Contract (course handout, "hw1 MNIST target"):

* :func:`build_model` returns a ``torch.nn.Module`` mapping a float32 batch ``(N, 1, 28, 28)`` with
  pixels in ``[0, 1]`` to logits ``(N, 10)``; evaluate it in ``eval()`` mode (it has batch norm).
* :func:`train` trains that model from scratch on ``uint8`` images ``(N, 28, 28)`` and labels
  ``(N,)`` and returns its ``state_dict``. It is deterministic given ``seed`` (single thread,
  deterministic algorithms, seeded generators), runs on the CPU only and takes about half a minute
  for 5,000 images on one core.

The weights in ``mnist_model.pt`` are produced by ``scripts/train_mnist_examples.py`` (trained on
test images [0, 5000), evaluated on [5000, 10000)), never by hand.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPOCHS = 8
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
# Augmentation (see _augment).
MAX_ROTATION = 12.0  # degrees
MAX_SCALE = 0.1  # relative
MAX_SHIFT = 2.0  # pixels


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    ]


def build_model() -> nn.Module:
    """Three conv blocks (32, 64, 128 channels; 28 -> 14 -> 7 -> 3 pixels) and a linear head."""
    return nn.Sequential(
        *_block(1, 32),
        *_block(32, 64),
        *_block(64, 128),
        nn.Flatten(),
        nn.Linear(128 * 3 * 3, 10),
    )


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random affine distortion of each image: rotation up to ``MAX_ROTATION`` degrees, scaling by
    up to ``MAX_SCALE``, translation up to ``MAX_SHIFT`` pixels (bilinear, zero fill)."""
    n, _, h, w = batch.shape
    u = torch.rand(n, 4, generator=generator) * 2 - 1  # uniform in [-1, 1)
    angle = torch.deg2rad(u[:, 0] * MAX_ROTATION)
    scale = 1 + u[:, 1] * MAX_SCALE
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid works in coordinates normalised to [-1, 1]: one pixel is 2 / size.
    shift_x, shift_y = u[:, 2] * (2 * MAX_SHIFT / w), u[:, 3] * (2 * MAX_SHIFT / h)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], dim=1), torch.stack([sin, cos, shift_y], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def train(images: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, torch.Tensor]:
    """Train :func:`build_model` from scratch; return its ``state_dict`` (CPU tensors)."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(
            f"expected images (N, 28, 28) and labels (N,), got {images.shape} and {labels.shape}"
        )
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).unsqueeze(1)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        model = build_model().to(memory_format=torch.channels_last)  # faster convolutions on CPU
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        steps_per_epoch = (len(x) + BATCH_SIZE - 1) // BATCH_SIZE
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=LEARNING_RATE, total_steps=EPOCHS * steps_per_epoch
        )
        model.train()
        for _ in range(EPOCHS):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), BATCH_SIZE):
                batch = order[start : start + BATCH_SIZE]
                inputs = _augment(x[batch], generator).contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(model(inputs), y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
        model.eval()
        return {name: t.detach().contiguous().clone() for name, t in model.state_dict().items()}
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
