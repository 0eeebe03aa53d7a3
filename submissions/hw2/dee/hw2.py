import numpy as np


def odds(p):
    return p / (1 - p)


def logit(p):
    return np.log(odds(p)


def inverse_logit(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    s = inverse_logit(x)
    return s * (1 - s)


def normalize(counts):
    return counts / counts.sum()


def kl_divergence(p, q):
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def kl_grad_q(p, q, direction):
    if direction == "pq":
        return -p / q
    if direction == "qp":
        return np.log(q / p) + 1
    raise ValueError(direction)


def hinge_loss(scores, y, margin=1.0):
    m = np.maximum(0, scores - scores[y] + margin)
    m[y] = 0
    return float(m.sum())


def softmax_loss(scores, y):
    s = scores - scores.max()
    return float(np.log(np.exp(s).sum()) - s[y])


def softmax_loss_grad(x, W, b, y):
    s = x @ W.T + b
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    return p.T @ x, p.sum(axis=0)
