"""
HW4 submission - Cyrus T.

A: layer functions (forward returns a cache for the backward)
B: sgd_momentum, adam
C: TwoLayerNet
D: MyTorch classes
E: PyTorch conv net + attention
"""
import math

import numpy as np
import torch
from torch import nn


# ======================= A. layers =======================

def affine_forward(x, w, b):
    N = x.shape[0]
    D = int(np.prod(x.shape[1:]))
    out = x.reshape(N, D) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T @ dout
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    x = cache
    dx = np.where(x > 0, dout, 0.0)
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))

    cache = None
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        x_hat = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_hat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (x, mu, var, eps, x_hat, gamma)
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """Chain rule through x_hat = (x - mu) / sqrt(var + eps)."""
    x, mu, var, eps, x_hat, gamma = cache
    N = x.shape[0]

    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)

    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * (x - mu), axis=0) * (-0.5) * (var + eps) ** (-1.5)
    dx = dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / N
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]
    mode = dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        mask = None
        out = x
    return out, (mode, mask)


def dropout_backward(dout, cache):
    mode, mask = cache
    if mode == "train":
        return dout * mask
    return dout


def conv_forward_naive(x, w, b, conv_param):
    pad = conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = H + 2 * pad - HH + 1
    W_out = W + 2 * pad - WW + 1

    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, f, i, j] = np.sum(xp[n, :, i:i + HH, j:j + WW] * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride

    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    r, c = i * stride, j * stride
                    dw[f] += dout[n, f, i, j] * xp[n, :, r:r + HH, c:c + WW]
                    dxp[n, :, r:r + HH, c:c + WW] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def softmax_loss(x, y):
    N = x.shape[0]
    e = np.exp(x)
    probs = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(N), y]))
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


# ======================= B. optimisers =======================

def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def adam(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)

    t = config["t"] + 1
    m = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    v = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    m_hat = m / (1 - config["beta1"] ** t)
    v_hat = v / (1 - config["beta2"] ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config["m"], config["v"], config["t"] = m, v, t
    return next_w, config


# ======================= C. two-layer net =======================

class TwoLayerNet:

    def __init__(self, input_dim=3072, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {
            "W1": np.random.randn(input_dim, hidden_dim) * weight_scale,
            "b1": np.zeros(hidden_dim),
            "W2": np.random.randn(hidden_dim, num_classes) * weight_scale,
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]

        h, c1 = affine_forward(X, W1, b1)
        a, c2 = relu_forward(h)
        scores, c3 = affine_forward(a, W2, b2)
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        # L2 regularisation
        loss += self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))

        grads = {}
        da, grads["W2"], grads["b2"] = affine_backward(dscores, c3)
        dh = relu_backward(da, c2)
        _, grads["W1"], grads["b1"] = affine_backward(dh, c1)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        return loss, grads


# ======================= D. MyTorch =======================

class Linear:
    def __init__(self, in_features, out_features):
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))

    def forward(self, A):
        self.A = A
        self.ones = np.ones((A.shape[0], 1))
        return A @ self.W.T + self.ones @ self.b.T

    def backward(self, dLdZ):
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.T @ self.ones
        return dLdZ @ self.W


class Tanh:
    def forward(self, Z):
        self.Z = Z
        return np.tanh(Z)

    def backward(self, dLdA):
        dLdZ = dLdA * (1 - self.Z ** 2)
        return dLdZ


def _softmax(A):
    e = np.exp(A - A.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class CrossEntropyLoss:
    def forward(self, A, Y):
        self.A = A
        self.Y = Y
        self.S = _softmax(A)
        N = A.shape[0]
        return float(-np.sum(Y * np.log(self.S)) / N)

    def backward(self):
        return self.S - self.Y


class SGD:
    def __init__(self, model, lr=0.1, momentum=0.0):
        self.l = model.layers
        self.lr = lr
        self.mu = momentum
        self.vW = {}
        self.vb = {}

    def step(self):
        for idx, layer in enumerate(self.l):
            if not hasattr(layer, "W") or not hasattr(layer, "b"):
                continue
            if idx not in self.vW:
                self.vW[idx] = np.zeros_like(layer.W)
                self.vb[idx] = np.zeros_like(layer.b)
            self.vW[idx] = self.mu * self.vW[idx] + layer.dLdW
            self.vb[idx] = self.mu * self.vb[idx] + layer.dLdb
            layer.W = layer.W - self.lr * self.vW[idx]
            layer.b = layer.b - self.lr * self.vb[idx]


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
        self.Z = Z
        self.N = Z.shape[0]
        self.M = Z.mean(axis=0, keepdims=True)
        self.V = Z.var(axis=0, keepdims=True)
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.BZ = self.BW * self.NZ + self.Bb

        if not eval:
            self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
            self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V
        return self.BZ

    def backward(self, dLdBZ):
        self.dLdBb = dLdBZ.sum(axis=0, keepdims=True)
        self.dLdBW = (dLdBZ * self.NZ).sum(axis=0, keepdims=True)
        dLdNZ = dLdBZ * self.BW
        inv = 1 / np.sqrt(self.V + self.eps)
        dLdV = np.sum(dLdNZ * (self.Z - self.M), axis=0, keepdims=True) * -0.5 * inv ** 3
        dLdM = -np.sum(dLdNZ * inv, axis=0, keepdims=True) \
            - dLdV * 2 / self.N * np.sum(self.Z - self.M, axis=0, keepdims=True)
        return dLdNZ * inv + dLdV * 2 * (self.Z - self.M) / self.N + dLdM / self.N


# ======================= E. PyTorch =======================

def flatten(x):
    N = x.shape[0]
    return x.view(N, -1)


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
        x = torch.relu(self.conv1(x))
        x = self.conv2(x)
        return self.fc(flatten(x))


def scaled_dot_product_attention(q, k, v, mask=None):
    E = q.shape[-1]
    scores = q @ k.transpose(1, 2) / math.sqrt(E)
    if mask is not None:
        scores = scores * mask
    attn = torch.softmax(scores, dim=-1)
    return attn @ v
