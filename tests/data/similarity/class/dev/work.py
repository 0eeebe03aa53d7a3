import numpy as np

def softmax(z):
    z = np.array(z, dtype=float)
    result = np.empty_like(z)
    for index in np.ndindex(z.shape[:-1]):
        row = z[index]
        shifted = np.exp(row - row.max())
        result[index] = shifted / shifted.sum()
    return result

def relu(x):
    return np.clip(x, 0, None)

def mse(pred, target):
    pred = np.asarray(pred); target = np.asarray(target)
    return np.mean(np.power(pred - target, 2))

def accuracy(scores, labels):
    right = [int(np.argmax(s) == y) for s, y in zip(scores, labels)]
    return sum(right) / float(len(right))
