"""Scripts run by the peers' interpreter (``--peers PYTHON``): the same workloads on PyMC and NumPyro."""
