"""Training: model, trainer, checkpoints, DDP, the worker and the sampler. The only torch importer."""
