"""Shared pytest settings: headless plotting, and no test writes into the user's data root by accident."""

import os

import matplotlib

os.environ.setdefault("MPLBACKEND", "Agg")  # inherited by the kernels that papermill starts
matplotlib.use("Agg")
