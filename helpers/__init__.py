"""Helpers for the image-classification course.

One module per concern, imported explicitly by the notebooks::

    from helpers.device import setup_notebook
    from helpers.data import load_fashion_mnist_tensors
    from helpers.training import fit, evaluate

Importing this package does nothing else: no downloads, no seeding, no printing.
"""

__version__ = "0.1.0"
