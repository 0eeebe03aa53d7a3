import numpy as np


def softmax(values):
    """Row-wise softmax through the log-sum-exp."""
    top = np.amax(values, axis=-1, keepdims=True)
    log_norm = top + np.log(np.sum(np.exp(values - top), axis=-1, keepdims=True))
    return np.exp(values - log_norm)


def relu(values):
    return values * (values > 0)


def mse(predictions, targets):
    n = np.size(predictions)
    squared = np.square(np.subtract(predictions, targets))
    return float(np.sum(squared) / n)


def accuracy(scores, labels):
    return float(np.count_nonzero(np.argmax(scores, axis=-1) == np.asarray(labels))) / len(labels)
