"""montemap: a Step Functions-compatible engine, workers, and a credit Monte Carlo workload."""

__version__ = "0.1.0"
