"""Evaluators: Parzen-window log-likelihood, mixture mode coverage, FID/KID."""
