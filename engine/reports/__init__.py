"""Reports with pictures: a sweep's or some runs' curves, final val PPL by hyperparameter, importances
and trial table, written as report.md and PNG figures (matplotlib, Agg, no display)."""
