"""Benchmarks of synaprefect against raw litellm and DSPy on the simulated LM.

``python -m benchmarks.run`` (``make bench``) runs every workload in rounds and writes
``benchmarks/results/latest.{json,md}``; see ``benchmarks/README.md``.
"""
