"""One-command benchmark runner for the mediation gateway: ``python -m bench``."""
