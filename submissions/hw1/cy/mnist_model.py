# hw1 MNIST model (Cy)
import numpy as np
import torch
from torch import nn


def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 14 x 14
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 7 x 7
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def train(images, labels, seed):
    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255).unsqueeze(1)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(5):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.state_dict()
