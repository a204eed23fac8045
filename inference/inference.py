"""The MNIST serving script: it ships in `model.tar.gz` under `code/` and beside `mnist.py` in
the training sourcedir, so the network is defined once and served exactly as trained.

Imports only torch and numpy (it runs inside the SageMaker PyTorch inference container).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# MNIST pixel statistics (of images scaled to 0–1), used in training and serving alike.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class Net(nn.Module):
    """The CNN of pytorch/examples `mnist/main.py`: 2 conv layers, 2 dense, log-softmax out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Images in 0–1 as float (N,1,28,28) → the network's input scale."""
    return (images - MNIST_MEAN) / MNIST_STD
