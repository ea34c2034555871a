"""The pure core: RunConfig, its rules, presets, estimates, the LR schedule. Standard library only."""
