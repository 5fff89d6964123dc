"""MLP: the black-box reference, all features into one network (nbm-spam's ConceptMLP layout)."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from mixnam.models.base import NeuralModel, Prediction
from mixnam.models.layers import SharedMLP


class MLP(NeuralModel):
    def __init__(self, n_features: int, *, hidden_dims: Sequence[int] = (256, 256, 256), dropout: float = 0.1,
                 normalization: str = "batch_norm"):
        super().__init__()
        self.hidden = SharedMLP(n_features, hidden_dims, normalization, dropout)
        self.output = nn.Linear(hidden_dims[-1], 1)

    def forward_details(self, x: Tensor) -> Prediction:
        return Prediction(self.output(self.hidden(x)).squeeze(-1))
