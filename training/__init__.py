"""Pieces of ``train.py``: hyperparameter files, run directories, training callbacks."""
