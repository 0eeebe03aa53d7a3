"""HW2 - probabilities and losses (Ada L.)"""
import numpy as np
import torch


def odds(p):
    p = np.asarray(p, dtype=np.float64)
    return p / (1.0 - p)


def logit(p):
    p = np.asarray(p, dtype=np.float64)
    # log(p / (1-p)) = log p - log(1-p); log1p is more accurate for small p
    return np.log(p) - np.log1p(-p)


def inverse_logit(x):
    # numerically stable sigmoid from torch (no overflow warnings for |x| = 1000)
    return torch.sigmoid(torch.as_tensor(x, dtype=torch.float64))


def sigmoid_grad(x):
    # S'(x) = S(x) S(-x): both factors are computed without overflow
    t = torch.as_tensor(x, dtype=torch.float64)
    return torch.sigmoid(t) * torch.sigmoid(-t)  # 1 - S(x) = S(-x), no cancellation


def normalize(counts):
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total


def kl_divergence(p, q):
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    nz = p > 0          # 0 * log 0 = 0 by convention, skip those terms
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def kl_grad_q(p, q, direction):
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if direction == "pq":
        # d/dq_d [p_d log p_d - p_d log q_d] = -p_d / q_d
        return -p / q
    elif direction == "qp":
        # d/dq_d [q_d log q_d - q_d log p_d] = log q_d + 1 - log p_d
        return np.log(q / p) + 1.0
    else:
        raise ValueError("direction must be 'pq' or 'qp'")


def hinge_loss(scores, y, margin=1.0):
    loss = 0.0
    for j in range(len(scores)):
        if j == y:
            continue
        loss += max(0.0, scores[j] - scores[y] + margin)
    return float(loss)


def softmax_loss(scores, y):
    s = torch.as_tensor(scores, dtype=torch.float64)
    return float(torch.logsumexp(s, dim=0) - s[y])


def softmax_loss_grad(x, W, b, y):
    N = x.shape[0]
    scores = x @ W.T + b
    scores = scores - scores.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grad_W = dscores.T @ x
    grad_b = dscores.sum(axis=0)
    return grad_W, grad_b
