"""The engine daemon: claiming, launching, recovering, engine records, executors, devices. No torch."""
