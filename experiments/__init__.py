"""The experiments layer on top of the jaxstyle library: shipped configs (``configs/``),
sweep files (``sweeps/``), the scripts behind results/ (``figures/``) and the checkout's
compatibility entry point (``main.py``). It imports jaxstyle; jaxstyle never imports it."""
