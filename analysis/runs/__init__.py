"""Runs and storage: a run's files (run.json, history, checkpoints) in a folder or a bucket, written atomically."""
