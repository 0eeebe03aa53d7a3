"""HW3 - convolutions, optimisation and embeddings.  Ada L.

conv2d / conv2d_backward use PyTorch (F.conv2d is a cross-correlation, exactly what is asked)
and return tensors; everything else is numpy.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


def _sigmoid(t):
    # stable scalar sigmoid
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def _sigmoid_np(a):
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# ---------------------------------------------------------------- Q1 chain rule

def chain_rule(x, y):
    x = float(x)
    y = float(y)
    sx, sy = _sigmoid(x), _sigmoid(y)
    u = x ** 2 + sy          # numerator
    v = 3 * x + y - sx       # denominator
    du_dx, du_dy = 2 * x, sy * (1 - sy)
    dv_dx, dv_dy = 3 - sx * (1 - sx), 1.0
    f = u / v
    df_dx = (du_dx * v - u * dv_dx) / v ** 2
    df_dy = (du_dy * v - u * dv_dy) / v ** 2
    return f, df_dx, df_dy


# ---------------------------------------------------------------- Q2 pooling

def _out_size(n, k, stride):
    return (n - k) // stride + 1


def max_pool2d(x, k, stride):
    H, W = x.shape
    Ho, Wo = _out_size(H, k, stride), _out_size(W, k, stride)
    out = np.empty((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            r, c = i * stride, j * stride
            out[i, j] = x[r:r + k, c:c + k].max()
    return out


def avg_pool2d(x, k, stride):
    H, W = x.shape
    Ho, Wo = _out_size(H, k, stride), _out_size(W, k, stride)
    out = np.empty((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            r, c = i * stride, j * stride
            out[i, j] = x[r:r + k, c:c + k].mean()
    return out


def lp_pool2d(x, p, k, stride):
    H, W = x.shape
    Ho, Wo = _out_size(H, k, stride), _out_size(W, k, stride)
    out = np.empty((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            r, c = i * stride, j * stride
            window = x[r:r + k, c:c + k]
            out[i, j] = np.sum(window ** p) ** (1.0 / p)
    return out


# ---------------------------------------------------------------- Q3 convolution

def conv2d(x, w):
    xt = torch.as_tensor(x, dtype=torch.float64)[None, None]
    wt = torch.as_tensor(w, dtype=torch.float64)[None, None]
    return F.conv2d(xt, wt)[0, 0]


def conv2d_backward(x, w, grad_out):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(xt[None, None], wt[None, None])[0, 0]
    out.backward(torch.as_tensor(grad_out, dtype=torch.float64))
    return xt.grad, wt.grad


# ---------------------------------------------------------------- Q4 autoencoder

def autoencoder_loss(x, W1, b1, W2, b2):
    z1 = W1 @ x + b1
    h = _sigmoid_np(z1)
    xhat = W2 @ h + b2
    r = xhat - x
    J = float(np.sum(r ** 2))

    dxhat = 2 * r                      # dJ/dxhat
    dW2 = np.outer(dxhat, h)
    db2 = dxhat
    dh = W2.T @ dxhat
    dz1 = dh * h * (1 - h)
    dW1 = np.outer(dz1, x)
    db1 = dz1
    return J, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


# ---------------------------------------------------------------- Q5 SGD with momentum

def sgd_momentum_step(w, grad, velocity, lr, momentum):
    # same as torch.optim.SGD(momentum=m, dampening=0, nesterov=False)
    v_new = momentum * velocity + grad
    w_new = w - lr * v_new
    return w_new, v_new


# ---------------------------------------------------------------- Q6 top-k error

def topk_error(scores, labels, k):
    N = scores.shape[0]
    wrong = 0
    for n in range(N):
        own = scores[n, labels[n]]
        n_better = int(np.sum(scores[n] > own))   # strictly greater: ties count for me
        if n_better >= k:
            wrong += 1
    return wrong / N


# ---------------------------------------------------------------- Q7 SNE / t-SNE

def _sq_dist(Y):
    sq = np.sum(Y ** 2, axis=1)
    D = sq[:, None] + sq[None, :] - 2 * Y @ Y.T
    np.fill_diagonal(D, 0.0)
    return np.maximum(D, 0.0)


def sne_grad(P, Y):
    n = Y.shape[0]
    D = _sq_dist(Y)
    num = np.exp(-(D - D[~np.eye(n, dtype=bool)].min()))  # shifting does not change Q
    np.fill_diagonal(num, 0.0)
    Q = num / num.sum()
    grad = np.zeros_like(Y)
    for i in range(n):
        diff = Y[i] - Y                           # (n, d)
        grad[i] = 4 * ((P[i] - Q[i])[:, None] * diff).sum(axis=0)
    return grad


def tsne_grad(P, Y):
    D = _sq_dist(Y)
    num = 1.0 / (1.0 + D)
    np.fill_diagonal(num, 0.0)
    Q = num / num.sum()
    M = (P - Q) * num                              # (n, n)
    # sum_j M_ij (y_i - y_j) = y_i * sum_j M_ij - (M @ Y)_i
    return 4 * (M.sum(axis=1)[:, None] * Y - M @ Y)


# ---------------------------------------------------------------- Q8 proximal gradient

def soft_threshold(x, t):
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def ista_step(x, A, b, lam, step):
    grad = A.T @ (A @ x - b)
    return soft_threshold(x - step * grad, step * lam)
