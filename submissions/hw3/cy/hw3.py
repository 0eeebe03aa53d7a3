import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def S(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))   # = 1/(1+exp(-t)), never overflows


def dS(t):
    s = S(t)
    return s * (1 - s)


def chain_rule(x, y):
    num = x ** 2 + S(y)
    den = 3 * x + y - S(x)
    f = num / den
    # quotient rule
    df_dx = (2 * x * den + num * (3 - dS(x))) / den ** 2
    df_dy = (dS(y) * den + num * 1) / den ** 2
    return float(f), float(df_dx), float(df_dy)


def _win(x, k, stride):
    return sliding_window_view(x, (k, k))[::stride, ::stride]


def max_pool2d(x, k, stride):
    return _win(x, k, stride).max(axis=(2, 3))


def avg_pool2d(x, k, stride):
    return _win(x, k, stride).mean(axis=(2, 3))


def lp_pool2d(x, p, k, stride):
    return np.power(np.power(_win(x, k, stride), p).sum(axis=(2, 3)), 1.0 / p)


def conv2d(x, w):
    return np.einsum("ijkl,kl->ij", sliding_window_view(x, w.shape), w)


def conv2d_backward(x, w, grad_out):
    kh, kw = w.shape
    grad_w = np.einsum("abij,ij->ab", sliding_window_view(x, grad_out.shape), grad_out)
    padded = np.pad(grad_out, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    grad_x = np.einsum("ijkl,kl->ij", sliding_window_view(padded, w.shape), w[::-1, ::-1])
    return grad_x, grad_w


def autoencoder_loss(x, W1, b1, W2, b2):
    h = S(W1 @ x + b1)
    e = W2 @ h + b2 - x
    J = float(e @ e)
    grads = {}
    grads["b2"] = 2 * e
    grads["W2"] = np.outer(2 * e, h)
    delta = (W2.T @ (2 * e)) * h * (1 - h)
    grads["b1"] = delta
    grads["W1"] = np.outer(delta, x)
    return J, grads


def sgd_momentum_step(w, grad, velocity, lr, momentum):
    v = momentum * velocity + grad
    return w - lr * v, v


def topk_error(scores, labels, k):
    own = scores[np.arange(len(labels)), labels]
    # rank of the true label (1 = best), counting the label itself
    rank = (scores >= own[:, None]).sum(axis=1)
    return float(np.mean(rank > k))


def _q(Y, kernel):
    d2 = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    if kernel == "gauss":
        W = np.exp(-d2)
    else:
        W = 1.0 / (1.0 + d2)
    np.fill_diagonal(W, 0.0)
    return W, W / W.sum()


def sne_grad(P, Y):
    _, Q = _q(Y, "gauss")
    n = len(Y)
    g = np.zeros_like(Y)
    for i in range(n):
        for j in range(n):
            g[i] += 4 * (P[i, j] - Q[i, j]) * (Y[i] - Y[j])
    return g


def tsne_grad(P, Y):
    W, Q = _q(Y, "t")
    n = len(Y)
    g = np.zeros_like(Y)
    for i in range(n):
        for j in range(n):
            g[i] += 4 * (P[i, j] - Q[i, j]) * W[i, j] * (Y[i] - Y[j])
    return g


def soft_threshold(x, t):
    # keep the big entries, kill the small ones
    return x * (np.abs(x) > t)


def ista_step(x, A, b, lam, step):
    g = A.T @ (A @ x - b)
    return soft_threshold(x - step * g, step * lam)
