"""The run store on disk: atomic files, the TOML logs, runs, the queue, the trial table. No torch."""
