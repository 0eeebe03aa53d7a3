"""HW4 - layers, optimisers and classes (Ada L.)

Parts A-C follow the CS231n layers.py / optim.py conventions, part D the 11-785 MyTorch ones,
part E is plain PyTorch.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# A. Layer functions with caches
# ---------------------------------------------------------------------------

def affine_forward(x, w, b):
    """Fully connected layer: flatten every sample to a row, then x @ w + b.

    x: (N, d_1, ..., d_k), w: (D, M), b: (M,)
    Returns out (N, M) and cache = (x, w, b).
    """
    N = x.shape[0]
    out = x.reshape(N, -1) @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of affine_forward. dout: (N, M). Returns dx (like x), dw (D, M), db (M,)."""
    x, w, b = cache
    N = x.shape[0]
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """ReLU, any shape. The cache is the input."""
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Upstream gradient passes only where the input was positive."""
    x = cache
    dx = dout * (x > 0)
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation over the batch axis of x (N, D).

    bn_param: mode ('train' / 'test'), eps, momentum, running_mean, running_var.
    The running averages are written back into bn_param in train mode.
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)

    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)                 # biased variance (divides by N)
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std
        out = gamma * x_hat + beta

        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (x_hat, gamma, std)
    elif mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        cache = None
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Backward pass of a train-mode batchnorm_forward (the compact formula).

    With x_hat = (x - mu) / std:
        dx = (1 / N) / std * (N * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))
    """
    x_hat, gamma, std = cache
    N = dout.shape[0]

    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)

    dx_hat = dout * gamma
    dx = (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) / (N * std)
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Inverted dropout. p is the probability of KEEPING a unit."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    elif mode == "test":
        out = x.copy()
    else:
        raise ValueError('Invalid forward dropout mode "%s"' % mode)

    cache = (dropout_param, mask)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param["mode"]
    if mode == "train":
        dx = dout * mask
    elif mode == "test":
        dx = dout
    else:
        raise ValueError('Invalid backward dropout mode "%s"' % mode)
    return dx


def conv_forward_naive(x, w, b, conv_param):
    """Naive convolution (cross-correlation) with zero padding and a stride.

    x: (N, C, H, W), w: (F, C, HH, WW), b: (F,)
    out: (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((N, F_, H_out, W_out), dtype=x.dtype)

    for i in range(H_out):
        for j in range(W_out):
            hs, ws = i * stride, j * stride
            window = x_pad[:, :, hs:hs + HH, ws:ws + WW]            # (N, C, HH, WW)
            # contract over (C, HH, WW) for every sample and every filter at once
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b

    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """Backward pass of conv_forward_naive. Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))

    for i in range(H_out):
        for j in range(W_out):
            hs, ws = i * stride, j * stride
            window = x_pad[:, :, hs:hs + HH, ws:ws + WW]            # (N, C, HH, WW)
            d = dout[:, :, i, j]                                    # (N, F)
            dw += np.tensordot(d, window, axes=([0], [0]))          # (F, C, HH, WW)
            dx_pad[:, :, hs:hs + HH, ws:ws + WW] += np.tensordot(d, w, axes=([1], [0]))

    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def softmax_loss(x, y):
    """Mean cross-entropy of the softmax of the scores x (N, C) with labels y (N,).

    Computed through log-softmax with the row max subtracted, so huge scores do not overflow.
    """
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    probs = np.exp(log_probs)
    N = x.shape[0]

    loss = -log_probs[np.arange(N), y].mean()
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx


# ---------------------------------------------------------------------------
# B. Optimisers (state kept in the config dict)
# ---------------------------------------------------------------------------

def sgd_momentum(w, dw, config=None):
    """SGD with momentum (CS231n convention): v = mu * v - lr * dw; w += v."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))

    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    return next_w, config


def adam(w, dw, config=None):
    """Adam with bias-corrected first and second moments."""
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
    t = config["t"] + 1
    m = beta1 * config["m"] + (1 - beta1) * dw
    v = beta2 * config["v"] + (1 - beta2) * dw ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])

    config["m"], config["v"], config["t"] = m, v, t
    return next_w, config


# ---------------------------------------------------------------------------
# C. Two-layer network with a parameter dict
# ---------------------------------------------------------------------------

class TwoLayerNet:
    """affine - relu - affine - softmax."""

    def __init__(self, input_dim=3072, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {
            "W1": weight_scale * np.random.randn(input_dim, hidden_dim),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * np.random.randn(hidden_dim, num_classes),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]

        a1, cache_a1 = affine_forward(X, W1, b1)
        h1, cache_r1 = relu_forward(a1)
        scores, cache_a2 = affine_forward(h1, W2, b2)

        if y is None:
            return scores

        data_loss, dscores = softmax_loss(scores, y)
        reg_loss = 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        loss = data_loss + reg_loss

        grads = {}
        dh1, grads["W2"], grads["b2"] = affine_backward(dscores, cache_a2)
        da1 = relu_backward(dh1, cache_r1)
        _, grads["W1"], grads["b1"] = affine_backward(da1, cache_a1)
        grads["W2"] += self.reg * W2
        grads["W1"] += self.reg * W1
        return loss, grads


# ---------------------------------------------------------------------------
# D. MyTorch layer classes
# ---------------------------------------------------------------------------

class Linear:
    def __init__(self, in_features, out_features):
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))

    def forward(self, A):
        self.A = A
        self.N = A.shape[0]
        self.Ones = np.ones((self.N, 1))
        Z = A @ self.W.T + self.Ones @ self.b.T
        return Z

    def backward(self, dLdZ):
        dLdA = dLdZ @ self.W
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.T @ self.Ones          # (out_features, 1), summed over the batch
        return dLdA


class Tanh:
    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA):
        return dLdA * (1 - self.A ** 2)


class CrossEntropyLoss:
    def forward(self, A, Y):
        self.A = A
        self.Y = Y
        N = A.shape[0]
        shifted = A - A.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.softmax = np.exp(log_softmax)
        crossentropy = -(Y * log_softmax).sum(axis=1)
        L = crossentropy.sum() / N
        return float(L)

    def backward(self):
        N = self.A.shape[0]
        dLdA = (self.softmax - self.Y) / N
        return dLdA


class SGD:
    def __init__(self, model, lr=0.1, momentum=0.0):
        self.l = model.layers
        self.L = len(model.layers)
        self.lr = lr
        self.mu = momentum
        # one velocity per layer index, created the first time the layer is stepped
        self.v_W = {}
        self.v_b = {}

    def step(self):
        for i in range(self.L):
            layer = self.l[i]
            if not (hasattr(layer, "W") and hasattr(layer, "b")):
                continue
            if i not in self.v_W:
                self.v_W[i] = np.zeros_like(layer.W, dtype=np.float64)
                self.v_b[i] = np.zeros_like(layer.b, dtype=np.float64)
            self.v_W[i] = self.mu * self.v_W[i] + layer.dLdW
            self.v_b[i] = self.mu * self.v_b[i] + layer.dLdb
            layer.W = layer.W - self.lr * self.v_W[i]
            layer.b = layer.b - self.lr * self.v_b[i]


class BatchNorm1d:
    def __init__(self, num_features, alpha=0.9):
        self.alpha = alpha
        self.eps = 1e-8

        self.BW = np.ones((1, num_features))
        self.Bb = np.zeros((1, num_features))
        self.dLdBW = np.zeros((1, num_features))
        self.dLdBb = np.zeros((1, num_features))

        self.running_M = np.zeros((1, num_features))
        self.running_V = np.ones((1, num_features))

    def forward(self, Z, eval=False):
        if eval:
            NZ = (Z - self.running_M) / np.sqrt(self.running_V + self.eps)
            return self.BW * NZ + self.Bb

        self.Z = Z
        self.N = Z.shape[0]
        self.M = Z.mean(axis=0, keepdims=True)
        self.V = Z.var(axis=0, keepdims=True)
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.BZ = self.BW * self.NZ + self.Bb

        self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
        self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V
        return self.BZ

    def backward(self, dLdBZ):
        self.dLdBW = (dLdBZ * self.NZ).sum(axis=0, keepdims=True)
        self.dLdBb = dLdBZ.sum(axis=0, keepdims=True)

        dLdNZ = dLdBZ * self.BW
        Zc = self.Z - self.M
        inv_std = (self.V + self.eps) ** -0.5
        dLdV = -0.5 * (dLdNZ * Zc * inv_std ** 3).sum(axis=0, keepdims=True)
        dLdM = (-(dLdNZ * inv_std).sum(axis=0, keepdims=True)
                - 2.0 / self.N * dLdV * Zc.sum(axis=0, keepdims=True))
        dLdZ = dLdNZ * inv_std + dLdV * 2.0 / self.N * Zc + dLdM / self.N
        return dLdZ


# ---------------------------------------------------------------------------
# E. PyTorch
# ---------------------------------------------------------------------------

class ThreeLayerConvNet(nn.Module):
    def __init__(self, in_channel, channel_1, channel_2, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1)
        self.fc = nn.Linear(channel_2 * 32 * 32, num_classes)
        nn.init.kaiming_normal_(self.conv1.weight)
        nn.init.kaiming_normal_(self.conv2.weight)
        nn.init.kaiming_normal_(self.fc.weight)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        scores = self.fc(torch.flatten(x, start_dim=1))
        return scores


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(E)) v, with masked (False) positions excluded from the softmax."""
    E = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(E)          # (N, L, S)
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool, device=scores.device)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v
