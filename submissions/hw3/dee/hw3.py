"""hw3 -- Dee"""
import numpy as np


def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def chain_rule(x, y):
    s_x, s_y = float(_sigmoid(x)), float(_sigmoid(y))
    u, v = x * x + s_y, 3 * x + y - s_x
    du_dx, dv_dx = 2 * x, 3 - s_x * (1 - s_x)
    du_dy, dv_dy = s_y * (1 - s_y), 1
    return u / v, (du_dx * v - u * dv_dx) / v**2, (du_dy * v - u * dv_dy) / v**2


def max_pool2d(x, k, stride):
    H, W = x.shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.zeros((1, Ho, Wo))   # one channel
    for i in range(Ho):
        for j in range(Wo):
            out[0, i, j] = x[i*stride:i*stride+k, j*stride:j*stride+k].max()
    return out


def avg_pool2d(x, k, stride):
    H, W = x.shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.zeros((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[i, j] = x[i*stride:i*stride+k, j*stride:j*stride+k].mean()
    return out


def lp_pool2d(x, p, k, stride):
    H, W = x.shape
    Ho, Wo = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.zeros((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[i, j] = (x[i*stride:i*stride+k, j*stride:j*stride+k] ** p).sum() ** (1 / p)
    return out


def conv2d(x, w):
    kh, kw = w.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for a in range(kh):
        for b in range(kw):
            out += w[a, b] * x[a:a + out.shape[0], b:b + out.shape[1]]
    return out


def conv2d_backward(x, w, grad_out):
    kh, kw = w.shape
    Ho, Wo = grad_out.shape
    gx = np.zeros_like(x)
    gw = np.zeros_like(w)
    for a in range(kh):
        for b in range(kw):
            gx[a:a + Ho, b:b + Wo] += w[a, b] * grad_out
            gw[a, b] = np.sum(x[a:a + Ho, b:b + Wo] * grad_out)
    return gx, gw


def autoencoder_loss(x, W1, b1, W2, b2):
    h = _sigmoid(W1 @ x + b1)
    r = W2 @ h + b2 - x
    d2 = 2 * r
    d1 = (W2.T @ d2) * h * (1 - h)
    return float(np.sum(r * r)), {"W1": np.outer(d1, x), "b1": d1, "W2": np.outer(d2, h), "b2": d2}


def sgd_momentum_step(w, grad, velocity, lr, momentum):
    w_new = np.array(w, dtype=np.float64)
    v_new = np.array(velocity, dtype=np.float64)
    i = 0
    while i < len(w_new):
        v_new[i] = momentum * v_new[i] + grad[i]
        w_new[i] = w_new[i] - lr * v_new[i]
    return w_new, v_new


def topk_error(scores, labels, k):
    own = scores[np.arange(scores.shape[0]), labels]
    greater = (scores > own[:, None]).sum(axis=1)
    return float((greater >= k).mean())


def _sqd(Y):
    d = Y[:, None, :] - Y[None, :, :]
    return d, (d ** 2).sum(axis=-1)


def sne_grad(P, Y):
    d, D = _sqd(Y)
    Wt = np.exp(-D)
    np.fill_diagonal(Wt, 0)
    Q = Wt / Wt.sum()
    return 4 * ((P - Q)[:, :, None] * d).sum(axis=1)


def tsne_grad(P, Y):
    d, D = _sqd(Y)
    Wt = 1 / (1 + D)
    np.fill_diagonal(Wt, 0)
    Q = Wt / Wt.sum()
    return 4 * (((P - Q) * Wt)[:, :, None] * d).sum(axis=1)


def soft_threshold(x, t):
    return np.sign(x) * np.maximum(np.abs(x) - t, 0)


def ista_step(x, A, b, lam, step):
    z = x - step * A.T @ (A @ x - b)
    return soft_threshold(z, step * lam)
