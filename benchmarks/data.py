"""Data sets of the seed workloads, identical for every library (numpy and scikit-learn only)."""

from __future__ import annotations

import numpy as np

from benchmarks.harness import MINIBATCH_COLS, MINIBATCH_ROWS, SEED


def minibatch_data() -> np.ndarray:
    """The quickstart's 40000 x 100 data: uniform, scaled and shifted per column."""
    rng = np.random.RandomState(SEED)
    data = rng.rand(MINIBATCH_ROWS, MINIBATCH_COLS)
    data *= rng.randint(1, 10, size=(MINIBATCH_COLS,))
    data += rng.rand(MINIBATCH_COLS) * 10
    return data


def iris_split():
    """``X_train, X_test, y_train, y_test`` of scikit-learn's bundled iris (fixed split)."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    return train_test_split(iris.data, iris.target, random_state=SEED)
