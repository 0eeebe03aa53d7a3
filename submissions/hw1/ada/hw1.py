"""HW1 - Backpropagation.  Ada L.

All functions work on float64 numpy arrays.  I tried to keep everything numerically stable
(see the comments) and checked my gradients with finite differences in a notebook.
"""
import numpy as np
import torch


def sigmoid(x):
    # torch.sigmoid is implemented in a numerically stable way (no overflow for x = -1000),
    # and the handout allows returning tensors.
    return torch.sigmoid(torch.as_tensor(x, dtype=torch.float64))


def sigmoid_backward(x_in, grad_out):
    # d sigma/dx = sigma(x) * (1 - sigma(x))
    # written as e / (1 + e)^2 with e = exp(-|x|) so that 1 - sigma never cancels badly
    with np.errstate(under="ignore"):  # exp(-1000) = 0 is fine
        e = np.exp(-np.abs(x_in))
        local = e / (1.0 + e) ** 2
        return grad_out * local


def softmax(x, beta=1.0):
    z = beta * np.asarray(x, dtype=np.float64)
    z = z - z.max()  # shift for stability, softmax is invariant to it
    with np.errstate(under="ignore"):
        ez = np.exp(z)
    return ez / ez.sum()


def softmax_jacobian(x, beta=1.0):
    y = softmax(x, beta)
    n = y.shape[0]
    J = np.zeros((n, n))
    with np.errstate(under="ignore"):
        for j in range(n):
            for i in range(n):
                if i == j:
                    J[j, i] = beta * y[j] * (1 - y[j])
                else:
                    J[j, i] = -beta * y[j] * y[i]
    return J


def linear_forward(x, W, b):
    # x: (N, D), W: (K, D), b: (K,)  ->  (N, K)
    return np.dot(x, W.T) + b[None, :]


def linear_backward(x, W, b, grad_y):
    # y[n, k] = sum_d x[n, d] W[k, d] + b[k]
    grad_x = np.einsum("nk,kd->nd", grad_y, W)
    grad_W = np.einsum("nk,nd->kd", grad_y, x)
    grad_b = np.sum(grad_y, axis=0)
    return grad_x, grad_W, grad_b
