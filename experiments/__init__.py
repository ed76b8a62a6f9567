"""CX Console experiment engine: Bayesian inference on sufficient statistics, decisions, registry."""
