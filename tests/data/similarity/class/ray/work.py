import numpy as np


def softmax(logits):
    # shift for stability
    moved = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(moved)
    return e / np.sum(e, axis=-1, keepdims=True)


def relu(v):
    return np.maximum(v, 0.0)


def mse(y_pred, y_true):
    delta = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return float(np.mean(delta ** 2))


def accuracy(logits, y):
    best = np.argmax(logits, axis=1)
    return float(np.mean(best == y))
