# HW3 - Ben
import numpy as np


def sig(z):
    z = np.asarray(z, dtype=float)
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def chain_rule(x, y):
    sx = float(sig(x))
    sy = float(sig(y))
    top = x ** 2 + sy
    bot = 3 * x + y - sx
    f = top / bot
    dfdx = (2 * x * bot - top * (3 - sx * (1 - sx))) / bot ** 2
    dfdy = (sy * (1 - sy) * bot - top) / bot ** 2
    return float(f), float(dfdx), float(dfdy)


def max_pool2d(x, k, stride):
    H, W = x.shape
    oh = (H - k) // stride + 1
    ow = (W - k) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.max(x[i * stride:i * stride + k, j * stride:j * stride + k])
    return out


def avg_pool2d(x, k, stride):
    H, W = x.shape
    oh = (H - k) // stride + 1
    ow = (W - k) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(x[i * stride:i * stride + k, j * stride:j * stride + k]) / k
    return out


def lp_pool2d(x, p, k, stride):
    H, W = x.shape
    oh = (H - k) // stride + 1
    ow = (W - k) // stride + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = np.sum(win ** p) ** (1 / p)
    return out


def conv2d(x, w):
    kh, kw = w.shape
    H, W = x.shape
    out = np.zeros((H - kh + 1, W - kw + 1))
    wf = w[::-1, ::-1]  # convolution flips the kernel
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * wf)
    return out


def conv2d_backward(x, w, grad_out):
    kh, kw = w.shape
    gx = np.zeros_like(x)
    gw = np.zeros_like(w)
    for i in range(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            # out[i, j] = sum x[i:i+kh, j:j+kw] * w
            gx[i:i + kh, j:j + kw] += grad_out[i, j] * w
            gw += grad_out[i, j] * x[i:i + kh, j:j + kw]
    return gx, gw


def autoencoder_loss(x, W1, b1, W2, b2):
    a = W1 @ x + b1
    h = sig(a)
    out = W2 @ h + b2
    err = out - x
    J = np.sum(err ** 2)
    g_out = 2 * err
    g_W2 = np.outer(g_out, h)
    g_b2 = g_out
    g_h = W2.T @ g_out
    g_a = g_h * h * (1 - h)
    g_W1 = np.outer(g_a, x)
    g_b1 = g_a
    return float(J), {"W1": g_W1, "b1": g_b1, "W2": g_W2, "b2": g_b2}


def sgd_momentum_step(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + (1 - momentum) * grad
    w = w - lr * velocity
    return w, velocity


def topk_error(scores, labels, k):
    errors = 0
    for row, lab in zip(scores, labels):
        better = np.sum(row > row[lab])
        if better >= k:
            errors += 1
    return errors / len(labels)


def _pairwise(Y):
    diff = Y[:, None, :] - Y[None, :, :]
    return diff, np.sum(diff ** 2, axis=2)


def sne_grad(P, Y):
    diff, D = _pairwise(Y)
    E = np.exp(-D)
    np.fill_diagonal(E, 0)
    Q = E / E.sum()
    return 4 * np.einsum("ij,ijk->ik", P - Q, diff)


def tsne_grad(P, Y):
    diff, D = _pairwise(Y)
    num = 1 / (1 + D)
    np.fill_diagonal(num, 0)
    Q = num / num.sum()
    return np.einsum("ij,ijk->ik", (P - Q) * num, diff)


def soft_threshold(x, t):
    return np.sign(x) * np.maximum(np.abs(x) - t, 0)


def ista_step(x, A, b, lam, step):
    z = x - step * (A.T @ (A @ x - b))
    return soft_threshold(z, step * lam)
