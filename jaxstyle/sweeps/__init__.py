"""Sweeps: grids of ordinary runs, run by resumable workers and summarised over seeds.

``spec``    ``Sweep``/``Axis``/``Metric``, expansion into named cells, the sweep directory
            and its per-cell locks
``runner``  ``jaxstyle sweep run|status|report``: workers, hosts, retries, resumption
``devices`` each worker's GPUs or TPU chips on an accelerator host, found without JAX
``report``  tables (mean ± s.e. and 95 % intervals over seeds, comparisons with a
            baseline), summary.json and contact sheets
``stats``   small-sample statistics: Student t, intervals, Welch's test, Holm
``reproduce`` ``jaxstyle reproduce``: rerun recorded runs, sweeps or results folders and
            compare their numbers (equal / within the seeds' spread / outside)

Sweep files live in experiments/sweeps/ (``get_sweep(arg=None) -> Sweep``).
"""
