"""A degenerate hw4 submission: every function and class of the handout, with the right names,
signatures and return structure, but every array it returns is _fake(input): zeros of the
input's shape, or the input itself echoed (tests/test_hw4.py sets DEGENERATE before importing).
Each must score 0: no check of hw4 may give credit to an answer that computes nothing."""

import numpy as np
import torch

DEGENERATE = "zeros"


def _fake(x):
    if isinstance(x, torch.Tensor):
        return torch.zeros_like(x) if DEGENERATE == "zeros" else x * 1
    x = np.asarray(x, dtype=float)
    return np.zeros_like(x) if DEGENERATE == "zeros" else x.copy()


def affine_forward(x, w, b):
    return _fake(x.reshape(x.shape[0], -1)[:, : w.shape[1]]), (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return _fake(x), _fake(w), _fake(dout[0])


def relu_forward(x):
    return _fake(x), x


def relu_backward(dout, cache):
    return _fake(dout)


def batchnorm_forward(x, gamma, beta, bn_param):
    bn_param["running_mean"] = _fake(gamma)
    bn_param["running_var"] = _fake(gamma)
    return _fake(x), x


def batchnorm_backward(dout, cache):
    return _fake(dout), _fake(dout[0]), _fake(dout[0])


def dropout_forward(x, dropout_param):
    return _fake(x), x


def dropout_backward(dout, cache):
    return _fake(dout)


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    h = 1 + (x.shape[2] + 2 * pad - w.shape[2]) // stride
    v = 1 + (x.shape[3] + 2 * pad - w.shape[3]) // stride
    return _fake(np.resize(x, (x.shape[0], w.shape[0], h, v))), (x, w, b)


def conv_backward_naive(dout, cache):
    x, w, b = cache
    return _fake(x), _fake(w), _fake(b)


def softmax_loss(x, y):
    return float(_fake(x).mean()), _fake(x)


def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config["velocity"] = _fake(dw)
    return _fake(w), config


def adam(w, dw, config=None):
    config = {} if config is None else config
    config["m"], config["v"], config["t"] = _fake(dw), _fake(dw), 0
    return _fake(w), config


class TwoLayerNet:
    def __init__(self, input_dim=3072, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
        self.params = {"W1": np.zeros((input_dim, hidden_dim)), "b1": np.zeros(hidden_dim),
                       "W2": np.zeros((hidden_dim, num_classes)), "b2": np.zeros(num_classes)}

    def loss(self, X, y=None):
        scores = _fake(X @ self.params["W1"] @ self.params["W2"])
        if y is None:
            return scores
        return float(scores.mean()), {key: _fake(value) for key, value in self.params.items()}


class Linear:
    def __init__(self, in_features, out_features):
        self.W = np.zeros((out_features, in_features))
        self.b = np.zeros((out_features, 1))

    def forward(self, A):
        self.A = A
        return _fake(A @ self.W.T)

    def backward(self, dLdZ):
        self.dLdW, self.dLdb = _fake(self.W), _fake(self.b)
        return _fake(self.A)


class Tanh:
    def forward(self, Z):
        return _fake(Z)

    def backward(self, dLdA):
        return _fake(dLdA)


class CrossEntropyLoss:
    def forward(self, A, Y):
        self.A = A
        return float(_fake(A).mean())

    def backward(self):
        return _fake(self.A)


class SGD:
    def __init__(self, model, lr=0.1, momentum=0.0):
        self.layers = model.layers

    def step(self):
        for layer in self.layers:
            if hasattr(layer, "W"):
                layer.W, layer.b = _fake(layer.W), _fake(layer.b)


class BatchNorm1d:
    def __init__(self, num_features, alpha=0.9):
        self.BW, self.Bb = np.ones((1, num_features)), np.zeros((1, num_features))
        self.running_M, self.running_V = np.zeros((1, num_features)), np.ones((1, num_features))

    def forward(self, Z, eval=False):
        self.running_M, self.running_V = _fake(self.running_M), _fake(self.running_V)
        return _fake(Z)

    def backward(self, dLdBZ):
        self.dLdBW, self.dLdBb = _fake(dLdBZ[:1]), _fake(dLdBZ[:1])
        return _fake(dLdBZ)


class ThreeLayerConvNet(torch.nn.Module):
    def __init__(self, in_channel, channel_1, channel_2, num_classes):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channel, channel_1, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(channel_1, channel_2, 3, padding=1)
        self.fc = torch.nn.Linear(channel_2 * 32 * 32, num_classes)

    def forward(self, x):
        return _fake(x.reshape(x.shape[0], -1)[:, : self.fc.out_features])


def scaled_dot_product_attention(q, k, v, mask=None):
    return _fake(q) + 0 * (k.sum() + v.sum())
