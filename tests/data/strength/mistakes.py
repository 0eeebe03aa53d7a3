"""Declared mistakes of the strength fixture (weak.yaml), so that its self-test passes without the
strength report: the report is then the only thing that fails it."""

import numpy as np


def unpad__no_crop(dx_padded, pad):
    """The padding is not cropped."""
    return dx_padded


def unpad__one_side(dx_padded, pad):
    """The padding is cropped on one side only."""
    H = dx_padded.shape[-2] - 2 * pad
    W = dx_padded.shape[-1] - 2 * pad
    return dx_padded[..., :H, :W]


def softmax__not_normalised(x):
    """The exponentials are not divided by their sum."""
    return np.exp(x - x.max(axis=1, keepdims=True))


def softmax__over_columns(x):
    """Normalised over the batch (axis 0) instead of the classes."""
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


class Scale__dw_not_summed:
    """dw is left elementwise instead of summed."""

    def forward(self, x, w):
        self.x = x
        return x * w

    def backward(self, g):
        self.dw = g * self.x
        return g


class Scale__output_not_scaled:
    """forward forgets the weight."""

    def forward(self, x, w):
        self.x = x
        return x

    def backward(self, g):
        self.dw = (g * self.x).sum()
        return g


def sqdist__not_squared(a, b):
    """Absolute differences summed, not squared ones."""
    return np.abs(a - b).sum(axis=-1)


def sqdist__not_summed(a, b):
    """The squared differences are not summed over each row."""
    return (a - b) ** 2
