# hw1.py  --  Ben
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_backward(x_in, grad_out):
    # derivative of sigmoid is s(1-s)
    s = x_in
    return grad_out * s * (1 - s)


def softmax(x, beta=1.0):
    a = beta * x
    a = a - np.max(a)
    e = np.exp(a)
    return e / np.sum(e)


def softmax_jacobian(x, beta=1.0):
    y = softmax(x, beta)
    J = -beta * np.outer(y, y)
    for i in range(len(y)):
        J[i, i] = beta * y[i] * (y[i] - 1)
    return J


def linear_forward(x, W, b):
    return x @ W.T + b


def linear_backward(x, W, b, grad_y):
    dx = grad_y @ W
    dW = grad_y.T @ x
    db = grad_y.sum(axis=0)
    return dx, dW, db
