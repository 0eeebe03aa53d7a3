import numpy as np


def softmax(a):
    a = a - a.max(axis=a.ndim - 1, keepdims=True)
    np.exp(a, out=a)
    a /= a.sum(axis=a.ndim - 1, keepdims=True)
    return a


def relu(a):
    return (a + np.abs(a)) / 2


def mse(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) ** 2 / np.size(a)


def accuracy(scores, labels):
    return np.mean([np.argmax(r) == l for r, l in zip(scores, labels)])
