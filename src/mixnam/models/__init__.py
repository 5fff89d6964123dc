"""The model names; `mixnam.training.build_estimator` turns a name into a fitted-to-be `Estimator`."""
from __future__ import annotations

NEURAL = ("mixnam", "mixnam_d", "mixnam_e", "nam", "na2m", "nbm", "nb2m", "mlp")
LIBRARY = ("ebm", "eb2m", "xgboost", "linear", "spline", "node", "nodegam", "nodega2m")
MODELS = NEURAL + LIBRARY
