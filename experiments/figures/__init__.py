"""Scripts that regenerate results/: each runs its sweep (or reads trained models) and writes
the tables, JSON and images of one results folder; run one with
``python -m experiments.figures.NAME --help``."""
