"""Typical wrong answers to hw4, used by the grader to diagnose a failing submission.

Each ``<name>__<mistake id>`` has the graded function's or class's exact signature and makes one
realistic mistake; its docstring is one sentence addressed to the student, shown as the diagnosis
when the student's results match it on every case. A docstring says what the answer does (its
values, where they go wrong), never a cause another code could also produce: a student reads it
whatever code gave those values. The grader runs each problem's scenario with
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
    """Your out is x.reshape(N, D) @ w, without the bias: out = x.reshape(N, D) @ w + b."""
    return x.reshape(x.shape[0], -1) @ w, (x, w, b)


def affine_forward__bias_subtracted(x, w, b):
    """Your out is x.reshape(N, D) @ w - b; the affine layer adds the bias: out = x.reshape(N, D) @ w + b."""
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
    """Your dx is dout where dout > 0 and 0 elsewhere; the mask comes from the forward input: dout where x > 0."""
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
    """Your test-mode out is normalised with the test batch's own mean and variance; test mode uses running_mean and running_var."""
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
    """In train mode your out is x on the kept units, not x / p: inverted dropout divides the mask by p."""
    out, (param, mask) = ref.dropout_forward(x, dropout_param)
    if param["mode"] != "train":
        return out, (param, mask)
    return out * param["p"], (param, mask * param["p"])


def dropout_forward__p_as_drop_probability(x, dropout_param):
    """Your out keeps the units the handout drops (np.random.rand(*x.shape) >= p) and divides by 1 - p; in the handout p is the probability of keeping a unit."""
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if dropout_param["mode"] != "train":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) >= p) / (1 - p)
    return x * mask, (dropout_param, mask)


def dropout_backward__unscaled_mask(dout, cache):
    """In train mode your dx is dout on the kept units, not dout / p: the forward's mask is divided by p, and so is dx."""
    param, mask = cache
    return dout * (mask != 0) if param["mode"] == "train" else dout


def dropout_backward__ignores_mask(dout, cache):
    """In train mode your dx is dout unchanged; units dropped in the forward pass get no gradient, kept ones dout / p."""
    return dout.copy()


def conv_forward_naive__ignores_stride(x, w, b, conv_param):
    """Your output is that of stride 1 whatever conv_param['stride'] says (right when the stride is 1)."""
    return ref.conv_forward_naive(x, w, b, {**conv_param, "stride": 1})


def conv_forward_naive__no_padding(x, w, b, conv_param):
    """Your output is that of pad = 0 whatever conv_param['pad'] says: H and W are zero-padded by pad on both sides first."""
    return ref.conv_forward_naive(x, w, b, {**conv_param, "pad": 0})


def conv_forward_naive__flipped_kernel(x, w, b, conv_param):
    """Your output is that of the kernel flipped in H and W (a true convolution); the layer is a cross-correlation, with no flip."""
    return ref.conv_forward_naive(x, w[:, :, ::-1, ::-1], b, conv_param)


def conv_backward_naive__db_mean(dout, cache):
    """Your db averages over the batch; it is the sum of dout over N, H' and W'."""
    dx, dw, db = ref.conv_backward_naive(dout, cache)
    return dx, dw, db / dout.shape[0]


def conv_backward_naive__dx_padded(dout, cache):
    """Your dx has the shape of the padded x (H + 2 * pad, W + 2 * pad); it has the shape of x."""
    x, w, b, conv_param = cache
    pad = conv_param["pad"]
    dx, dw, db = ref.conv_backward_naive(dout, cache)
    return np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad))), dw, db


def conv_backward_naive__dx_empty_when_pad_0(dout, cache):
    """When conv_param['pad'] is 0 your dx is empty (no rows, no columns); it has the shape of x. It is right when pad > 0."""
    x, w, b, conv_param = cache
    pad = conv_param["pad"]
    dx, dw, db = ref.conv_backward_naive(dout, cache)
    dx_padded = np.pad(dx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return dx_padded[:, :, pad:-pad, pad:-pad], dw, db


def softmax_loss__no_max_shift(x, y):
    """Your loss and dx are NaN or inf for scores of large magnitude (1e3 and more), where the right ones are finite; they are right for moderate scores."""
    with np.errstate(all="ignore"):
        e = np.exp(x)
        probs = e / e.sum(axis=1, keepdims=True)
        N = x.shape[0]
        loss = -np.log(probs[np.arange(N), y]).mean()
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return float(loss), dx / N


def softmax_loss__infinite_loss_for_unlikely_class(x, y):
    """Your loss is inf or NaN when a sample's true class scores far below its row's largest score (by about 745 or more, where its softmax probability underflows to 0 in float64), though the loss is finite there; dx is right."""
    _, dx = ref.softmax_loss(x, y)
    shifted = x - x.max(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        e = np.exp(shifted)
        probs = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(x.shape[0]), y]).mean()
    return float(loss), dx


def softmax_loss__sum_not_mean(x, y):
    """Your loss sums over the batch; the handout's loss is the mean, and dx is divided by N too."""
    loss, dx = ref.softmax_loss(x, y)
    return loss * x.shape[0], dx * x.shape[0]


# --------------------------------------------------------------------------- B. optimisers


def sgd_momentum__pytorch_momentum(w, dw, config=None):
    """Your w and velocity follow PyTorch's convention (v = momentum * v + dw; w -= lr * v); the handout's is v = momentum * v - lr * dw; w += v."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + dw
    config["velocity"] = v
    return w - config["learning_rate"] * v, config


def sgd_momentum__velocity_not_stored(w, dw, config=None):
    """After a step your config['velocity'] is still the one before it (or absent), so the next step starts from the old velocity."""
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


def adam__epsilon_inside_sqrt(w, dw, config=None):
    """Your step is learning_rate * m_hat / sqrt(v_hat + epsilon); the handout's is learning_rate * m_hat / (sqrt(v_hat) + epsilon), which differs when gradients are small (sqrt(v_hat) near epsilon)."""
    next_w, config = ref.adam(w, dw, config)
    t = config["t"]
    m_hat = config["m"] / (1 - config["beta1"] ** t)
    v_hat = config["v"] / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * m_hat / np.sqrt(v_hat + config["epsilon"]), config


def adam__t_not_stored(w, dw, config=None):
    """Your config['t'] does not advance from one step to the next, and every step is bias-corrected as the first (t = 1)."""
    t_before = 0 if config is None else config.get("t", 0)
    next_w, config = ref.adam(w, dw, {**(config or {}), "t": 0})
    config["t"] = t_before
    return next_w, config


# --------------------------------------------------------------------------- C. TwoLayerNet


class TwoLayerNet__relu_on_scores(ref.TwoLayerNet):
    """Your scores go through a ReLU after the second affine layer (no score is negative); the network is affine - ReLU - affine, and the scores are the second affine's output."""

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[key] for key in ("W1", "b1", "W2", "b2"))
        hidden, affine1 = ref.affine_forward(X, W1, b1)
        activated, relu1 = ref.relu_forward(hidden)
        before, affine2 = ref.affine_forward(activated, W2, b2)
        scores, relu2 = ref.relu_forward(before)
        if y is None:
            return scores
        data_loss, dscores = ref.softmax_loss(scores, y)
        loss = data_loss + 0.5 * self.reg * (np.sum(W1**2) + np.sum(W2**2))
        dactivated, dW2, db2 = ref.affine_backward(ref.relu_backward(dscores, relu2), affine2)
        _, dW1, db1 = ref.affine_backward(ref.relu_backward(dactivated, relu1), affine1)
        return float(loss), {"W1": dW1 + self.reg * W1, "b1": db1, "W2": dW2 + self.reg * W2, "b2": db2}


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


class Linear__gradients_averaged(ref.Linear):
    """Your dLdW and dLdb are averaged over the batch (divided by N); the handout asks for their sums over the batch."""

    def backward(self, dLdZ):
        dLdA = super().backward(dLdZ)
        self.dLdW = self.dLdW / dLdZ.shape[0]
        self.dLdb = self.dLdb / dLdZ.shape[0]
        return dLdA


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


class Linear__gradients_accumulated(ref.Linear):
    """After a second forward and backward, your dLdW and dLdb are the sums of both backward calls' gradients; each backward sets them to the gradient of its own call."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features)
        self.dLdW = np.zeros((out_features, in_features))
        self.dLdb = np.zeros((out_features, 1))

    def backward(self, dLdZ):
        before_W, before_b = self.dLdW, self.dLdb
        dLdA = super().backward(dLdZ)
        self.dLdW = before_W + self.dLdW
        self.dLdb = before_b + self.dLdb
        return dLdA


class Tanh__not_finite_for_large_z(ref.Tanh):
    """Your A and dLdZ are NaN or inf for inputs of large magnitude (|Z| above about 710 here), where tanh(Z) is -1 or 1 and its derivative 0; they are right for moderate Z."""

    def forward(self, Z):
        with np.errstate(all="ignore"):
            self.A = (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z))
        return self.A


class Tanh__backward_uses_input(ref.Tanh):
    """Your dLdZ is dLdA * (1 - Z**2) with Z the forward's input; the derivative is 1 - tanh(Z)**2 = 1 - A**2, A the forward's output."""

    def forward(self, Z):
        self.Z = Z
        return super().forward(Z)

    def backward(self, dLdA):
        return dLdA * (1 - self.Z**2)


class Tanh__missing_square(ref.Tanh):
    """Your dLdZ is dLdA * (1 - A); the derivative of tanh is 1 - A**2."""

    def backward(self, dLdA):
        return dLdA * (1 - self.A)


class CrossEntropyLoss__backward_no_divide_n(ref.CrossEntropyLoss):
    """Your dLdA is softmax(A) - Y, N times too large: the loss is a mean over the N samples, so dLdA = (softmax(A) - Y) / N."""

    def backward(self):
        return super().backward() * self.A.shape[0]


class CrossEntropyLoss__forward_sum_not_mean(ref.CrossEntropyLoss):
    """Your loss sums over the batch; the handout's loss is the mean over the N samples."""

    def forward(self, A, Y):
        return super().forward(A, Y) * A.shape[0]


class CrossEntropyLoss__not_finite_for_large_logits(ref.CrossEntropyLoss):
    """Your loss and dLdA are NaN or inf for logits of large magnitude (1e3 and more), where the right ones are finite; they are right for moderate logits."""

    def forward(self, A, Y):
        self.A, self.Y = A, Y
        with np.errstate(all="ignore"):
            e = np.exp(A)
            self.softmax = e / e.sum(axis=1, keepdims=True)
            return float((-Y * np.log(self.softmax)).sum(axis=1).mean())


class CrossEntropyLoss__infinite_loss_for_unlikely_class(ref.CrossEntropyLoss):
    """Your loss is NaN or inf when some logits are far below their row's largest (by about 745 or more, where their softmax probability underflows to 0 in float64), though the loss is finite there; dLdA is right."""

    def forward(self, A, Y):
        super().forward(A, Y)
        with np.errstate(all="ignore"):
            return float((-Y * np.log(self.softmax)).sum(axis=1).mean())


class SGD__loses_velocity(ref.SGD):
    """With momentum, your weights after several steps are those of SGD without momentum (W - lr * dLdW at every step): the velocities of earlier steps must carry over, vW = momentum * vW + dLdW."""

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
    """Your eval-mode BZ is normalised with the eval batch's own mean and variance; eval mode uses running_M and running_V."""

    def forward(self, Z, eval=False):  # noqa: A002
        if not eval:
            return super().forward(Z)
        NZ = (Z - Z.mean(axis=0, keepdims=True)) / np.sqrt(Z.var(axis=0, keepdims=True) + self.eps)
        return self.BW * NZ + self.Bb


class BatchNorm1d__gradients_accumulated(ref.BatchNorm1d):
    """After a second forward and backward, your dLdBW and dLdBb are the sums of both backward calls' gradients; each backward sets them to the gradient of its own call."""

    def __init__(self, num_features, alpha=0.9):
        super().__init__(num_features, alpha)
        self.dLdBW = np.zeros((1, num_features))
        self.dLdBb = np.zeros((1, num_features))

    def backward(self, dLdBZ):
        before_W, before_b = self.dLdBW, self.dLdBb
        dLdZ = super().backward(dLdBZ)
        self.dLdBW = before_W + self.dLdBW
        self.dLdBb = before_b + self.dLdBb
        return dLdZ


class BatchNorm1d__nan_for_constant_feature(ref.BatchNorm1d):
    """Your BZ and dLdZ are NaN or inf for a feature that is constant over the batch (variance 0), where the handout's are finite: it normalises by sqrt(V + eps)."""

    def forward(self, Z, eval=False):  # noqa: A002
        with np.errstate(all="ignore"):
            if eval:
                return self.BW * (Z - self.running_M) / np.sqrt(self.running_V) + self.Bb
            BZ = super().forward(Z)
            self.NZ = (Z - self.M) / np.sqrt(self.V)
            return self.BW * self.NZ + self.Bb

    def backward(self, dLdBZ):
        saved, self.eps = self.eps, 0.0
        with np.errstate(all="ignore"):
            dLdZ = super().backward(dLdBZ)
        self.eps = saved
        return dLdZ


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
    """Your scores are never negative (a ReLU after fc); the last layer, fc, is linear."""

    def forward(self, x):
        return torch.relu(super().forward(x))


def scaled_dot_product_attention__scaled_by_e(q, k, v, mask=None):
    """Your output is that of scores divided by E; scaled dot-product attention divides them by sqrt(E)."""
    return ref.scaled_dot_product_attention(q / math.sqrt(q.shape[-1]), k, v, mask)


def scaled_dot_product_attention__mask_multiplied(q, k, v, mask=None):
    """Your masked positions get a score of 0 (scores times the mask), so they keep some weight; they must be set to -inf before the softmax."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores * mask
    return torch.softmax(scores, dim=-1) @ v
