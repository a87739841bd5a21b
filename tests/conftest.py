"""Shared pytest settings: headless plotting in the test process.

Kernels started by papermill keep Jupyter's inline backend, so notebooks are tested as students run them.
"""

import matplotlib

matplotlib.use("Agg")
