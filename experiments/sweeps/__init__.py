"""The shipped sweep files: grids of runs that reproduce a paper's table or figure.

Each public module defines ``get_sweep(arg=None) -> jaxstyle.sweeps.spec.Sweep``; ``arg``
is a comma-separated ``key=value`` list of the options its docstring names. Run one with
``jaxstyle sweep run NAME[:key=value,...] --dir DIR`` and tabulate it with
``jaxstyle sweep report``. ``_args`` parses the options; ``_gatys`` holds the settings the
Gatys sweeps share.
"""
