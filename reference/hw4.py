"""Reference implementation of hw4 (layers, optimisers and classes), the instructor's solution.

Every function and class of ``handout-hw4.md`` with the handout's exact signature, following the
conventions of CS231n's ``layers.py``/``optim.py`` (parts A-C) and CMU 11-785's MyTorch (part D).
Parts A-D are pure NumPy float64; part E is PyTorch. The grader runs the spec's scenarios on this
module in its own trusted process and compares every value it reads back with the student's.

Caches are whatever is convenient here (tuples of arrays): the grader never looks inside them, it
only hands a forward function's cache to the matching backward function of the same module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------- A. layers with caches


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    """``x.reshape(N, D) @ w + b``; the cache keeps the inputs for the backward pass."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.maximum(0.0, x), x


def relu_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    return np.where(cache > 0, dout, 0.0)


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict) -> tuple[np.ndarray, Any]:
    """Train mode normalises with the batch statistics and updates the running ones in ``bn_param``;
    test mode normalises with the running statistics and leaves them unchanged."""
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std
        out = gamma * x_hat + beta
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        return out, (x_hat, gamma, std)
    if mode == "test":
        bn_param["running_mean"] = running_mean
        bn_param["running_var"] = running_var
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        return out, None
    raise ValueError(f"invalid batchnorm mode {mode!r}")


def batchnorm_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dx_hat = dout * gamma
    dx = (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) / (N * std)
    return dx, dgamma, dbeta


def dropout_forward(x: np.ndarray, dropout_param: dict) -> tuple[np.ndarray, Any]:
    """Inverted dropout: ``p`` is the probability of keeping a unit; ``seed`` seeds numpy first."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        return x * mask, (dropout_param, mask)
    return x, (dropout_param, None)


def dropout_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict) -> tuple[np.ndarray, Any]:
    """Zero-padded cross-correlation with a stride, as loops over output positions."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w))
    flat_w = w.reshape(F, -1)
    for i in range(H_out):
        for j in range(W_out):
            window = padded[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = window.reshape(N, -1) @ flat_w.T + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N = x.shape[0]
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dpadded = np.zeros_like(padded)
    dw = np.zeros_like(w)
    flat_w = w.reshape(F, -1)
    for i in range(H_out):
        for j in range(W_out):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            window = padded[:, :, rows, cols]
            g = dout[:, :, i, j]  # (N, F)
            dw += (g.T @ window.reshape(N, -1)).reshape(w.shape)
            dpadded[:, :, rows, cols] += (g @ flat_w).reshape(window.shape)
    dx = dpadded[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the softmax of the scores; shifted by the row max, so finite for huge
    scores (an ``exp`` that underflows to 0 is the correct value, not an error)."""
    shifted = x - x.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return float(loss), dx / N


# --------------------------------------------------------------------------- B. optimisers


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None) -> tuple[np.ndarray, dict]:
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    config["m"] = beta1 * config["m"] + (1 - beta1) * dw
    config["v"] = beta2 * config["v"] + (1 - beta2) * dw**2
    m_hat = config["m"] / (1 - beta1 ** config["t"])
    v_hat = config["v"] / (1 - beta2 ** config["t"])
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return next_w, config


# --------------------------------------------------------------------------- C. a model with a parameter dict


class TwoLayerNet:
    """affine - ReLU - affine - softmax, parameters in ``self.params``."""

    def __init__(self, input_dim: int = 3072, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 1e-3, reg: float = 0.0) -> None:
        self.reg = reg
        self.params = {
            "W1": weight_scale * np.random.randn(input_dim, hidden_dim),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * np.random.randn(hidden_dim, num_classes),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        W1, b1, W2, b2 = (self.params[key] for key in ("W1", "b1", "W2", "b2"))
        hidden, affine1 = affine_forward(X, W1, b1)
        activated, relu_cache = relu_forward(hidden)
        scores, affine2 = affine_forward(activated, W2, b2)
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + 0.5 * self.reg * (np.sum(W1**2) + np.sum(W2**2))
        dactivated, dW2, db2 = affine_backward(dscores, affine2)
        dhidden = relu_backward(dactivated, relu_cache)
        _, dW1, db1 = affine_backward(dhidden, affine1)
        grads = {"W1": dW1 + self.reg * W1, "b1": db1, "W2": dW2 + self.reg * W2, "b2": db2}
        return float(loss), grads


# --------------------------------------------------------------------------- D. MyTorch layer classes


class Linear:
    def __init__(self, in_features: int, out_features: int) -> None:
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))

    def forward(self, A: np.ndarray) -> np.ndarray:
        self.A = A
        self.ones = np.ones((A.shape[0], 1))
        return A @ self.W.T + self.ones @ self.b.T

    def backward(self, dLdZ: np.ndarray) -> np.ndarray:
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.T @ self.ones
        return dLdZ @ self.W


class Tanh:
    def forward(self, Z: np.ndarray) -> np.ndarray:
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA: np.ndarray) -> np.ndarray:
        return dLdA * (1 - self.A**2)


def _softmax_rows(A: np.ndarray) -> np.ndarray:
    shifted = A - A.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


class CrossEntropyLoss:
    def forward(self, A: np.ndarray, Y: np.ndarray) -> float:
        self.A, self.Y = A, Y
        self.softmax = _softmax_rows(A)
        shifted = A - A.max(axis=1, keepdims=True)
        with np.errstate(under="ignore"):
            log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-(Y * log_softmax).sum(axis=1).mean())

    def backward(self) -> np.ndarray:
        return (self.softmax - self.Y) / self.A.shape[0]


class SGD:
    """Momentum SGD over ``model.layers``: ``v = momentum * v + dLdW``, ``W = W - lr * v``."""

    def __init__(self, model: Any, lr: float = 0.1, momentum: float = 0.0) -> None:
        self.layers = model.layers
        self.lr = lr
        self.mu = momentum
        self.v_W = [np.zeros_like(layer.W) if self._trainable(layer) else None for layer in self.layers]
        self.v_b = [np.zeros_like(layer.b) if self._trainable(layer) else None for layer in self.layers]

    @staticmethod
    def _trainable(layer: Any) -> bool:
        return hasattr(layer, "W") and hasattr(layer, "b")

    def step(self) -> None:
        for index, layer in enumerate(self.layers):
            if not self._trainable(layer):
                continue
            self.v_W[index] = self.mu * self.v_W[index] + layer.dLdW
            self.v_b[index] = self.mu * self.v_b[index] + layer.dLdb
            layer.W = layer.W - self.lr * self.v_W[index]
            layer.b = layer.b - self.lr * self.v_b[index]


class BatchNorm1d:
    def __init__(self, num_features: int, alpha: float = 0.9) -> None:
        self.alpha = alpha
        self.eps = 1e-8
        self.BW = np.ones((1, num_features))
        self.Bb = np.zeros((1, num_features))
        self.running_M = np.zeros((1, num_features))
        self.running_V = np.ones((1, num_features))

    def forward(self, Z: np.ndarray, eval: bool = False) -> np.ndarray:  # noqa: A002 - the handout's name
        if eval:
            NZ = (Z - self.running_M) / np.sqrt(self.running_V + self.eps)
            return self.BW * NZ + self.Bb
        self.Z = Z
        self.N = Z.shape[0]
        self.M = Z.mean(axis=0, keepdims=True)
        self.V = Z.var(axis=0, keepdims=True)
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
        self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V
        return self.BW * self.NZ + self.Bb

    def backward(self, dLdBZ: np.ndarray) -> np.ndarray:
        self.dLdBW = (dLdBZ * self.NZ).sum(axis=0, keepdims=True)
        self.dLdBb = dLdBZ.sum(axis=0, keepdims=True)
        dLdNZ = dLdBZ * self.BW
        std = np.sqrt(self.V + self.eps)
        N = self.N
        return (N * dLdNZ - dLdNZ.sum(axis=0, keepdims=True)
                - self.NZ * (dLdNZ * self.NZ).sum(axis=0, keepdims=True)) / (N * std)


# --------------------------------------------------------------------------- E. PyTorch


class ThreeLayerConvNet(nn.Module):
    def __init__(self, in_channel: int, channel_1: int, channel_2: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, 5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, 3, padding=1)
        self.fc = nn.Linear(channel_2 * 32 * 32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(torch.flatten(hidden, start_dim=1))


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
