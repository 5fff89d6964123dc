"""The model names; `mixnam.training.build_estimator` turns a name into a fitted-to-be `Estimator`."""
from __future__ import annotations

NEURAL = ("mixnam", "mixnam_d", "mixnam_e", "nam", "na2m", "nbm", "nb2m", "mlp")
LIBRARY = ("ebm", "eb2m", "xgboost", "linear", "spline", "node", "nodegam", "nodega2m")
MODELS = NEURAL + LIBRARY
# library models that never use a GPU: a GPU sweep on Slurm gives their jobs CPU resources (hydra.launcher.cpu_jobs)
CPU_ONLY = ("ebm", "eb2m", "linear", "spline")
