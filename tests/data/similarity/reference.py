"""Reference of the similarity tests' small assignment: softmax (graded) and three helpers."""

import numpy as np


def softmax(z):
    shifted = z - np.max(z, axis=-1, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=-1, keepdims=True)


def relu(x):
    return np.maximum(x, 0.0)


def mse(pred, target):
    diff = np.asarray(pred, dtype=float) - np.asarray(target, dtype=float)
    return float(np.mean(diff ** 2))


def accuracy(scores, labels):
    predicted = np.argmax(scores, axis=1)
    return float(np.mean(predicted == labels))
