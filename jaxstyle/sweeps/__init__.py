"""Sweeps: grids of ordinary runs, run by resumable workers and summarised over seeds.

``spec``    ``Sweep``/``Axis``/``Metric``, expansion into named cells, the sweep directory
            and its per-cell locks
``runner``  ``jaxstyle sweep run|status|report``: workers, hosts, retries, resumption
``devices`` each worker's GPUs or TPU chips on an accelerator host, found without JAX
``report``  tables (mean ± s.e. over seeds), summary.json and contact sheets

Sweep files live in experiments/sweeps/ (``get_sweep(arg=None) -> Sweep``).
"""
