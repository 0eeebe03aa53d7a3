import numpy as np


def softmax(z):
    # subtract the row maximum so exp cannot overflow
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - m)
    total = e.sum(axis=-1, keepdims=True)
    return e / total


def relu(x):
    out = x.copy()
    out[out < 0] = 0
    return out


def mse(pred, target):
    errors = []
    for p, t in zip(np.ravel(pred), np.ravel(target)):
        errors.append((p - t) ** 2)
    return sum(errors) / len(errors)


def accuracy(scores, labels):
    correct = 0
    for row, label in zip(scores, labels):
        if np.argmax(row) == label:
            correct += 1
    return correct / len(labels)
