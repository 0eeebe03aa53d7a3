"""Dee's homework 1."""
import numpy as np


def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    # avoid overflow: use exp of a non-positive number only
    return np.where(x >= 0,
                    1.0 / (1.0 + np.exp(-np.abs(x))),
                    np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


# sigmoid_backward: did not finish, ran out of time


def softmax(x, beta=1.0):
    z = beta * np.asarray(x, dtype=np.float64)
    z -= z.max()
    p = np.exp(z)
    return p / p.sum()


def softmax_jacobian(x, beta=1.0):
    p = softmax(x, beta)
    return beta * (np.diag(p) - p[:, None] * p[None, :])


def linear_forward(x, W, b):
    # bias trick: append a column of ones to x and the bias as an extra column of W
    ones = np.ones(len(x))
    x_aug = np.concatenate([x, ones], axis=1)
    W_aug = np.hstack([W, b[:, None]])
    return x_aug @ W_aug.T


def linear_backward(x, W, b, grad_y):
    return grad_y @ W, grad_y.T @ x, grad_y.sum(axis=0)
