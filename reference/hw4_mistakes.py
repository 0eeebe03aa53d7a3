"""Typical wrong answers to hw4, used by the grader to diagnose a failing submission.

Each ``<name>__<mistake id>`` has the graded function's or class's exact signature and makes one
realistic mistake; its docstring is one sentence addressed to the student, shown as the diagnosis
when the student's results match it on every case. The grader runs each problem's scenario with
the mistaken name swapped into the reference, so a class mistake is a subclass of the reference
class that overrides the one method it gets wrong, and a backward mistake receives the reference
forward's cache.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _load_reference() -> Any:
    # The mistakes build on the reference; it is loaded from beside this file, as the grader does.
    spec = importlib.util.spec_from_file_location("_hw4_reference_for_mistakes", Path(__file__).with_name("hw4.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


# --------------------------------------------------------------------------- A. layers


def affine_forward__no_bias(x, w, b):
    """You left out the bias: out = x.reshape(N, D) @ w + b."""
    return x.reshape(x.shape[0], -1) @ w, (x, w, b)


def affine_forward__bias_subtracted(x, w, b):
    """You subtracted the bias; the affine layer adds it: out = x.reshape(N, D) @ w + b."""
    return x.reshape(x.shape[0], -1) @ w - b, (x, w, b)


def affine_backward__db_mean(dout, cache):
    """Your bias gradient is the mean of dout over the batch; it is the sum: db = dout.sum(axis=0)."""
    dx, dw, db = ref.affine_backward(dout, cache)
    return dx, dw, db / dout.shape[0]


def affine_backward__dx_not_reshaped(dout, cache):
    """Your dx has shape (N, D); it must have the shape of the original x, (N, d_1, ..., d_k)."""
    dx, dw, db = ref.affine_backward(dout, cache)
    return dx.reshape(dx.shape[0], -1), dw, db


def relu_forward__leaky(x):
    """You computed a leaky ReLU (0.01 * x for negative x); the ReLU is max(0, x)."""
    return np.where(x > 0, x, 0.01 * x), x


def relu_forward__absolute(x):
    """You returned |x|; the ReLU sets negative inputs to 0: max(0, x)."""
    return np.abs(x), x


def relu_backward__passes_everything(dout, cache):
    """Your ReLU backward passes dout everywhere; it must be 0 where the input x was <= 0."""
    return dout.copy()


def relu_backward__mask_from_dout(dout, cache):
    """Your ReLU backward masks by the sign of dout; the mask comes from the forward input: x > 0."""
    return np.where(dout > 0, dout, 0.0)


def batchnorm_forward__running_var_ddof1(x, gamma, beta, bn_param):
    """Your running variance uses the unbiased batch variance (ddof=1); the handout uses np.var (ddof=0)."""
    out, cache = ref.batchnorm_forward(x, gamma, beta, bn_param)
    if bn_param["mode"] == "train":
        momentum = bn_param.get("momentum", 0.9)
        biased, unbiased = x.var(axis=0), x.var(axis=0, ddof=1)
        # Undo the reference's update with the biased variance and redo it with the unbiased one.
        bn_param["running_var"] = bn_param["running_var"] + (1 - momentum) * (unbiased - biased)
    return out, cache


def batchnorm_forward__test_uses_batch_stats(x, gamma, beta, bn_param):
    """In test mode you normalised with the batch's mean and variance; test mode uses running_mean and running_var."""
    if bn_param["mode"] != "test":
        return ref.batchnorm_forward(x, gamma, beta, bn_param)
    eps = bn_param.get("eps", 1e-5)
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta, None


def batchnorm_backward__missing_mean_path(dout, cache):
    """Your dx misses the path through the batch mean: mu depends on every x, so dx needs a dmu / N term."""
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dx_hat = dout * gamma
    x_centered = x_hat * std
    dvar = (dx_hat * x_centered).sum(axis=0) * -0.5 * std**-3
    dx = dx_hat / std + dvar * 2 * x_centered / N
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def batchnorm_backward__dbeta_mean(dout, cache):
    """Your dbeta is the mean of dout over the batch; it is the sum: dbeta = dout.sum(axis=0)."""
    dx, dgamma, dbeta = ref.batchnorm_backward(dout, cache)
    return dx, dgamma, dbeta / dout.shape[0]


def dropout_forward__no_inverse_scaling(x, dropout_param):
    """Your dropout does not divide the mask by p: inverted dropout keeps the expected activation with mask / p."""
    out, (param, mask) = ref.dropout_forward(x, dropout_param)
    if param["mode"] != "train":
        return out, (param, mask)
    return out * param["p"], (param, mask * param["p"])


def dropout_forward__p_as_drop_probability(x, dropout_param):
    """You used p as the probability of dropping a unit; in the handout p is the probability of keeping it."""
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if dropout_param["mode"] != "train":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) >= p) / (1 - p)
    return x * mask, (dropout_param, mask)


def dropout_backward__unscaled_mask(dout, cache):
    """Your dropout backward multiplies by the 0/1 mask; the forward's mask was divided by p, and so is dx."""
    param, mask = cache
    return dout * (mask != 0) if param["mode"] == "train" else dout


def dropout_backward__ignores_mask(dout, cache):
    """Your dropout backward returns dout unchanged in train mode; units dropped in the forward pass get no gradient."""
    return dout.copy()


def conv_forward_naive__ignores_stride(x, w, b, conv_param):
    """Your convolution ignores the stride: it slides by 1 whatever conv_param['stride'] says."""
    return ref.conv_forward_naive(x, w, b, {**conv_param, "stride": 1})


def conv_forward_naive__no_padding(x, w, b, conv_param):
    """Your convolution ignores conv_param['pad']: zero-pad H and W by pad on both sides first."""
    return ref.conv_forward_naive(x, w, b, {**conv_param, "pad": 0})


def conv_forward_naive__flipped_kernel(x, w, b, conv_param):
    """You flipped the kernel (a true convolution); the layer is a cross-correlation, with no flip."""
    return ref.conv_forward_naive(x, w[:, :, ::-1, ::-1], b, conv_param)


def conv_backward_naive__db_mean(dout, cache):
    """Your db averages over the batch; it is the sum of dout over N, H' and W'."""
    dx, dw, db = ref.conv_backward_naive(dout, cache)
    return dx, dw, db / dout.shape[0]


def conv_backward_naive__dx_padded(dout, cache):
    """Your dx keeps the zero padding; crop it back to the shape of x."""
    x, w, b, conv_param = cache
    pad = conv_param["pad"]
    dx, dw, db = ref.conv_backward_naive(dout, cache)
    return np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad))), dw, db


def softmax_loss__no_max_shift(x, y):
    """Your softmax overflows for large scores: subtract each row's maximum before np.exp."""
    with np.errstate(all="ignore"):
        e = np.exp(x)
        probs = e / e.sum(axis=1, keepdims=True)
        N = x.shape[0]
        loss = -np.log(probs[np.arange(N), y]).mean()
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return float(loss), dx / N


def softmax_loss__sum_not_mean(x, y):
    """Your loss sums over the batch; the handout's loss is the mean, and dx is divided by N too."""
    loss, dx = ref.softmax_loss(x, y)
    return loss * x.shape[0], dx * x.shape[0]


# --------------------------------------------------------------------------- B. optimisers


def sgd_momentum__pytorch_momentum(w, dw, config=None):
    """You used PyTorch's convention (v = momentum * v + dw; w -= lr * v); the handout's is v = momentum * v - lr * dw; w += v."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + dw
    config["velocity"] = v
    return w - config["learning_rate"] * v, config


def sgd_momentum__velocity_not_stored(w, dw, config=None):
    """You did not store the new velocity in config['velocity'], so the next step starts from the old one."""
    saved = None if config is None else config.get("velocity")
    next_w, config = ref.sgd_momentum(w, dw, config)
    if saved is None:
        config.pop("velocity", None)
    else:
        config["velocity"] = saved
    return next_w, config


def adam__no_bias_correction(w, dw, config=None):
    """Your Adam skips the bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t) before the update."""
    next_w, config = ref.adam(w, dw, config)
    next_w = w - config["learning_rate"] * config["m"] / (np.sqrt(config["v"]) + config["epsilon"])
    return next_w, config


def adam__t_not_stored(w, dw, config=None):
    """You did not store t in config, so every step uses t = 1 in the bias correction."""
    t_before = 0 if config is None else config.get("t", 0)
    next_w, config = ref.adam(w, dw, {**(config or {}), "t": 0})
    config["t"] = t_before
    return next_w, config


# --------------------------------------------------------------------------- C. TwoLayerNet


class TwoLayerNet__l2_missing_half(ref.TwoLayerNet):
    """Your L2 penalty lacks the 0.5: the loss adds 0.5 * reg * (sum(W1**2) + sum(W2**2)), whose gradient is reg * W."""

    def loss(self, X, y=None):
        result = super().loss(X, y)
        if y is None:
            return result
        loss, grads = result
        W1, W2 = self.params["W1"], self.params["W2"]
        return loss + 0.5 * self.reg * (np.sum(W1**2) + np.sum(W2**2)), grads


class TwoLayerNet__no_reg_gradient(ref.TwoLayerNet):
    """Your gradients leave out the regularisation: d/dW of 0.5 * reg * sum(W**2) adds reg * W to dW1 and dW2."""

    def loss(self, X, y=None):
        result = super().loss(X, y)
        if y is None:
            return result
        loss, grads = result
        grads = {**grads, "W1": grads["W1"] - self.reg * self.params["W1"],
                 "W2": grads["W2"] - self.reg * self.params["W2"]}
        return loss, grads


# --------------------------------------------------------------------------- D. MyTorch


class Linear__dLdb_mean(ref.Linear):
    """Your dLdb averages over the batch; the handout sums it: dLdb = dLdZ.T @ ones((N, 1))."""

    def backward(self, dLdZ):
        dLdA = super().backward(dLdZ)
        self.dLdb = self.dLdb / dLdZ.shape[0]
        return dLdA


class Linear__dLdW_transposed(ref.Linear):
    """Your dLdW is transposed: it has W's shape (out_features, in_features), dLdW = dLdZ.T @ A."""

    def backward(self, dLdZ):
        dLdA = super().backward(dLdZ)
        self.dLdW = self.dLdW.T
        return dLdA


class Tanh__backward_uses_input(ref.Tanh):
    """Your Tanh.backward uses the input Z; the derivative is 1 - tanh(Z)**2 = 1 - A**2 with A the forward's output."""

    def forward(self, Z):
        self.Z = Z
        return super().forward(Z)

    def backward(self, dLdA):
        return dLdA * (1 - self.Z**2)


class Tanh__missing_square(ref.Tanh):
    """Your Tanh.backward uses 1 - A; the derivative of tanh is 1 - A**2."""

    def backward(self, dLdA):
        return dLdA * (1 - self.A)


class CrossEntropyLoss__backward_no_divide_n(ref.CrossEntropyLoss):
    """Your backward is softmax(A) - Y; the loss is a mean over the N samples, so divide by N."""

    def backward(self):
        return super().backward() * self.A.shape[0]


class CrossEntropyLoss__forward_sum_not_mean(ref.CrossEntropyLoss):
    """Your loss sums over the batch; the handout's loss is the mean over the N samples."""

    def forward(self, A, Y):
        return super().forward(A, Y) * A.shape[0]


class SGD__loses_velocity(ref.SGD):
    """Your SGD starts the velocities from zero at every step; they must be kept between steps."""

    def step(self):
        self.v_W = [None if v is None else np.zeros_like(v) for v in self.v_W]
        self.v_b = [None if v is None else np.zeros_like(v) for v in self.v_b]
        super().step()


class SGD__ignores_bias(ref.SGD):
    """Your SGD updates W but not b; step() updates both, b with dLdb."""

    def step(self):
        saved = [layer.b for layer in self.layers if self._trainable(layer)]
        super().step()
        for layer, b in zip([layer for layer in self.layers if self._trainable(layer)], saved):
            layer.b = b


class BatchNorm1d__eval_uses_batch_stats(ref.BatchNorm1d):
    """In eval mode you normalised with the batch's mean and variance; eval mode uses running_M and running_V."""

    def forward(self, Z, eval=False):  # noqa: A002
        if not eval:
            return super().forward(Z)
        NZ = (Z - Z.mean(axis=0, keepdims=True)) / np.sqrt(Z.var(axis=0, keepdims=True) + self.eps)
        return self.BW * NZ + self.Bb


class BatchNorm1d__dLdBW_mean(ref.BatchNorm1d):
    """Your dLdBW averages over the batch; it is summed: dLdBW = sum(dLdBZ * NZ, axis=0)."""

    def backward(self, dLdBZ):
        dLdZ = super().backward(dLdBZ)
        self.dLdBW = self.dLdBW / dLdBZ.shape[0]
        return dLdZ


# --------------------------------------------------------------------------- E. PyTorch


class ThreeLayerConvNet__missing_relu(ref.ThreeLayerConvNet):
    """Your forward has no ReLU after conv2: fc(flatten(relu(conv2(relu(conv1(x))))))."""

    def forward(self, x):
        return self.fc(torch.flatten(self.conv2(torch.relu(self.conv1(x))), start_dim=1))


class ThreeLayerConvNet__relu_on_scores(ref.ThreeLayerConvNet):
    """You applied a ReLU to the class scores; the last layer, fc, is linear."""

    def forward(self, x):
        return torch.relu(super().forward(x))


def scaled_dot_product_attention__scaled_by_e(q, k, v, mask=None):
    """You divided the scores by E; scaled dot-product attention divides by sqrt(E)."""
    return ref.scaled_dot_product_attention(q / math.sqrt(q.shape[-1]), k, v, mask)


def scaled_dot_product_attention__mask_multiplied(q, k, v, mask=None):
    """You multiplied the scores by the mask; masked positions must be set to -inf before the softmax."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores * mask
    return torch.softmax(scores, dim=-1) @ v
