"""Training: the resumable trainer, its profiles, batch augmentation, evaluation and training-health checks."""
