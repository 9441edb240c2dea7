"""Benchmarks of varbayes on the Variational API quickstart's workloads, side by side with PyMC and NumPyro.

Run ``python -m benchmarks`` (or ``./dev bench``); ``--help`` lists the options.
"""
