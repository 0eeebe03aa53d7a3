import numpy as np


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def odds(p):
    return p / (1 - p)


def logit(p):
    return np.log(p)


def inverse_logit(x):
    return sigmoid(x)


def sigmoid_grad(x):
    s = sigmoid(x)
    return s * (1 - s)


def normalize(counts):
    counts = np.asarray(counts, dtype=float)
    return counts / counts.max()


def kl_divergence(p, q):
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    m = p != 0
    return float((p[m] * (np.log(p[m]) - np.log(q[m]))).sum())


def kl_grad_q(p, q, direction):
    if direction == "pq":
        return -p / q
    elif direction == "qp":
        return np.log(q) - np.log(p)
    raise ValueError("unknown direction " + str(direction))


def hinge_loss(scores, y, margin=1.0):
    total = 0.0
    for j, s in enumerate(scores):
        if j != y:
            total += max(0.0, s - scores[y] + margin)
    return total


def softmax_loss(scores, y):
    return float(np.log(np.sum(np.exp(scores))) - scores[y])


def softmax_loss_grad(x, W, b, y):
    N, D = x.shape
    K = W.shape[0]
    grad_W = np.zeros((K, D))
    grad_b = np.zeros(K)
    for n in range(N):
        s = W @ x[n] + b
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        p[y[n]] -= 1.0
        grad_W += np.outer(p, x[n])
        grad_b += p
    return grad_W / N, grad_b / N
