"""hw1 MNIST -- Ben's submission: plain logistic regression.

One linear layer; the softmax is inside the cross-entropy loss.
"""

import numpy as np
import torch
from torch import nn


def build_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(images: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """Mini-batch SGD on the cross-entropy, 30 epochs, small weight decay."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    y = torch.tensor(labels, dtype=torch.long)

    model = build_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(30):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 100):
            b = perm[i : i + 100]
            loss = loss_fn(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.state_dict()
