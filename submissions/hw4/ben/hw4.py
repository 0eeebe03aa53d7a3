# hw4.py  --  Ben K.
# Layers / optimizers / MyTorch / PyTorch parts of HW4.

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


############################################################
# Part A
############################################################

def affine_forward(x, w, b):
    """Computes the forward pass for an affine (fully connected) layer.

    x has shape (N, d_1, ..., d_k) and is flattened to (N, D) first.
    Returns (out, cache), out of shape (N, M).
    """
    x_flat = x.reshape(x.shape[0], -1)
    out = x_flat.dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass for an affine layer. Returns dx, dw, db."""
    x, w, b = cache
    x_flat = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x_flat.T.dot(dout)
    db = dout.mean(axis=0)
    return dx, dw, db


def relu_forward(x):
    out = x * (x > 0)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batchnorm forward pass.

    In train mode uses the minibatch statistics and keeps exponentially decaying running
    averages of the mean and variance in bn_param; in test mode uses those running averages.
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)

    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mu = np.mean(x, axis=0)
        var = np.var(x, axis=0)
        x_norm = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_norm + beta
        cache = (x, x_norm, mu, var, gamma, eps)

        # running statistics (unbiased estimate of the variance for the population)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * np.var(x, axis=0, ddof=1)
    elif mode == "test":
        x_norm = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_norm + beta
        cache = None
    else:
        raise ValueError("Invalid forward batchnorm mode %s" % mode)

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x, x_norm, mu, var, gamma, eps = cache
    N = x.shape[0]

    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_norm, axis=0)

    dx_norm = dout * gamma
    inv_std = 1.0 / np.sqrt(var + eps)
    dvar = np.sum(dx_norm * (x - mu), axis=0) * -0.5 * inv_std ** 3
    dmu = np.sum(-dx_norm * inv_std, axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
    dx = dx_norm * inv_std + dvar * 2.0 * (x - mu) / N + dmu / N
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Dropout forward. p = probability of keeping a neuron."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])

    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p)
        out = x * mask
    elif mode == "test":
        out = x
    cache = (dropout_param, mask)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param["mode"]
    if mode == "train":
        dx = dout * mask
    elif mode == "test":
        dx = dout
    return dx


def conv_forward_naive(x, w, b, conv_param):
    """Naive conv layer forward pass (loops)."""
    stride = conv_param["stride"]
    pad = conv_param["pad"]
    N, C, H, W = x.shape
    F_num, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride

    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F_num, H_out, W_out))
    for n in range(N):
        for f in range(F_num):
            for i in range(H_out):
                for j in range(W_out):
                    h0 = i * stride
                    w0 = j * stride
                    region = x_padded[n, :, h0:h0 + HH, w0:w0 + WW]
                    out[n, f, i, j] = np.sum(region * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride = conv_param["stride"]
    pad = conv_param["pad"]
    N, C, H, W = x.shape
    F_num, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape

    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_padded = np.zeros_like(x_padded)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)

    for n in range(N):
        for f in range(F_num):
            db[f] += np.sum(dout[n, f])
            for i in range(H_out):
                for j in range(W_out):
                    h0 = i * stride
                    w0 = j * stride
                    dw[f] += dout[n, f, i, j] * x_padded[n, :, h0:h0 + HH, w0:w0 + WW]
                    dx_padded[n, :, h0:h0 + HH, w0:w0 + WW] += dout[n, f, i, j] * w[f]
    dx = dx_padded[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def softmax_loss(x, y):
    """Softmax loss and its gradient. x: (N, C), y: (N,)."""
    N = x.shape[0]
    z = x - np.max(x, axis=1, keepdims=True)
    exp_z = np.exp(z)
    probs = exp_z / np.sum(exp_z, axis=1, keepdims=True)
    loss = -np.sum(z[np.arange(N), y] - np.log(np.sum(exp_z, axis=1))) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx = dx / N
    return loss, dx


############################################################
# Part B
############################################################

def sgd_momentum(w, dw, config=None):
    """SGD with momentum. config: learning_rate, momentum, velocity."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))

    v = config["momentum"] * v + dw
    next_w = w - config["learning_rate"] * v
    config["velocity"] = v
    return next_w, config


def adam(w, dw, config=None):
    """Adam update. config: learning_rate, beta1, beta2, epsilon, m, v, t."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)

    lr = config["learning_rate"]
    beta1, beta2, eps = config["beta1"], config["beta2"], config["epsilon"]
    config["t"] += 1
    m = beta1 * config["m"] + (1 - beta1) * dw
    v = beta2 * config["v"] + (1 - beta2) * dw ** 2
    next_w = w - lr * m / (np.sqrt(v) + eps)

    config["m"] = m
    config["v"] = v
    return next_w, config


############################################################
# Part C
############################################################

class TwoLayerNet(object):
    """affine - relu - affine - softmax"""

    def __init__(self, input_dim=3072, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0):
        self.params = {}
        self.reg = reg
        self.params["W1"] = np.random.normal(0, weight_scale, (input_dim, hidden_dim))
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = np.random.normal(0, weight_scale, (hidden_dim, num_classes))
        self.params["b2"] = np.zeros(num_classes)

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]

        hidden_pre = X.reshape(N, -1) @ W1 + b1
        hidden = np.maximum(hidden_pre, 0)
        scores = hidden @ W2 + b2
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))

        grads = {}
        grads["W2"] = hidden.T @ dscores + self.reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        dhidden = dscores @ W2.T
        dhidden[hidden_pre <= 0] = 0
        grads["W1"] = X.reshape(N, -1).T @ dhidden + self.reg * W1
        grads["b1"] = np.sum(dhidden, axis=0)
        return loss, grads


############################################################
# Part D  (MyTorch)
############################################################

class Linear:

    def __init__(self, in_features, out_features):
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))

    def forward(self, A):
        self.A = A
        self.N = A.shape[0]
        self.Ones = np.ones((self.N, 1))
        Z = self.A @ self.W.T + self.Ones @ self.b.T
        return Z

    def backward(self, dLdZ):
        dLdA = dLdZ @ self.W
        self.dLdW = dLdZ.T @ self.A
        self.dLdb = dLdZ.mean(axis=0).reshape(-1, 1)
        return dLdA


class Tanh:

    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dLdA):
        dLdZ = dLdA * (1 - np.square(self.A))
        return dLdZ


class CrossEntropyLoss:

    def forward(self, A, Y):
        self.A = A
        self.Y = Y
        N = A.shape[0]
        exps = np.exp(A - A.max(axis=1, keepdims=True))
        self.softmax = exps / exps.sum(axis=1, keepdims=True)
        crossentropy = -np.sum(Y * np.log(self.softmax), axis=1)
        L = np.sum(crossentropy) / N
        return L

    def backward(self):
        N = self.A.shape[0]
        return (self.softmax - self.Y) / N


class SGD:

    def __init__(self, model, lr=0.1, momentum=0.0):
        self.l = model.layers
        self.L = len(model.layers)
        self.lr = lr
        self.mu = momentum

    def step(self):
        for layer in self.l:
            if not (hasattr(layer, "W") and hasattr(layer, "b")):
                continue
            v_W = np.zeros(layer.W.shape)
            v_b = np.zeros(layer.b.shape)
            v_W = self.mu * v_W + layer.dLdW
            v_b = self.mu * v_b + layer.dLdb
            layer.W = layer.W - self.lr * v_W
            layer.b = layer.b - self.lr * v_b


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
        self.M = np.mean(Z, axis=0, keepdims=True)
        self.V = np.var(Z, axis=0, keepdims=True)
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.BZ = self.BW * self.NZ + self.Bb

        self.running_M = self.alpha * self.running_M + (1 - self.alpha) * self.M
        self.running_V = self.alpha * self.running_V + (1 - self.alpha) * self.V
        return self.BZ

    def backward(self, dLdBZ):
        self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)
        self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)

        dLdNZ = dLdBZ * self.BW
        std_inv = 1.0 / np.sqrt(self.V + self.eps)
        # standard batchnorm backward, written in terms of the normalised input
        dLdZ = (std_inv / self.N) * (self.N * dLdNZ
                                     - np.sum(dLdNZ, axis=0, keepdims=True)
                                     - self.NZ * np.sum(dLdNZ * self.NZ, axis=0, keepdims=True))
        return dLdZ


############################################################
# Part E  (PyTorch)
############################################################

class ThreeLayerConvNet(nn.Module):
    def __init__(self, in_channel, channel_1, channel_2, num_classes):
        super(ThreeLayerConvNet, self).__init__()
        self.conv1 = nn.Conv2d(in_channel, channel_1, kernel_size=5, padding=2, bias=True)
        self.conv2 = nn.Conv2d(channel_1, channel_2, kernel_size=3, padding=1, bias=True)
        self.fc = nn.Linear(channel_2 * 32 * 32, num_classes)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        out = out.view(out.size(0), -1)
        return self.fc(out)


def scaled_dot_product_attention(q, k, v, mask=None):
    E = q.shape[-1]
    scores = torch.matmul(q, k.transpose(-2, -1)) / E
    if mask is not None:
        scores = scores.masked_fill(mask == False, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, v)
