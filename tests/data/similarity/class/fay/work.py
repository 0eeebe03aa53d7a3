import numpy as np

# Homework: four small functions.


def softmax(scores):
    # stabilise, then normalise
    biggest = np.max(scores, axis=-1, keepdims=True)
    powered = np.exp(scores - biggest)
    denominator = np.sum(powered, axis=0, keepdims=True)
    return powered / denominator


def relu(inputs):
    positive = inputs > 0
    return np.where(positive, inputs, np.zeros_like(inputs))


def mse(predicted, expected):
    gap = np.asarray(predicted, dtype=np.float64) - np.asarray(expected, dtype=np.float64)
    squares = gap * gap
    return float(squares.sum() / squares.size)


def accuracy(scores, labels):
    guesses = scores.argmax(axis=1)
    matches = (guesses == np.asarray(labels)).astype(np.float64)
    return float(matches.mean())
