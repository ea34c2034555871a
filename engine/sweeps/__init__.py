"""Sweeps: specs, distributions, plans, their files, the driver, pruning, reports. Optuna only in tpe."""
