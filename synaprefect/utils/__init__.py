"""Small helpers shared across synaprefect (private to the package)."""
