"""Sweeps: one base config, axes of overrides and seeds, expanded into named runs.

A sweep file (``experiments/sweeps/*.py``) defines ``get_sweep(arg=None) -> Sweep``.
Each cell of the grid (one label per axis, one seed) is one ordinary run,
``jaxstyle run CONFIG --workdir DIR/runs/NAME --config.k=v ...``,
whose NAME says what differs: ``loss=hinge__sn=on__seed=1``.

A sweep directory holds

  sweep.json         the expanded cells (name, labels, seed, overrides, command)
  runs/NAME/         each cell's run directory
  claims/NAME.lock   held (flock) by the process running the cell, released at its exit
  claims/NAME.json   the cell's state: pending / running / completed / failed / interrupted,
                     attempts (the status words of run directories, ``runtime.rundir``),
                     and the worker and devices that ran it
  logs/NAME.log      the run's output

Claims are ``fcntl.flock`` locks, so two workers on one machine (or on hosts sharing
a POSIX file system) never run one cell twice, and a crashed worker's cell becomes
claimable again the moment its process is gone. Hosts without a shared file system
split the cells deterministically instead (``share``).
"""

from __future__ import annotations

import dataclasses
import fcntl
import itertools
import json
import os
import re
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ml_collections

from jaxstyle.errors import ConfigError
from jaxstyle.runtime import config as config_lib
from jaxstyle.runtime.rundir import write_json

_LABEL = re.compile(r'^[A-Za-z0-9.+-][A-Za-z0-9._+-]*$')


# An axis value may name another base config for its cells under this key (e.g. one
# axis over architectures that have configs of their own).
CONFIG_KEY = 'config'


@dataclasses.dataclass(frozen=True)
class Axis:
  """One dimension of the grid: ``values`` maps a label to the overrides it applies.

  An overrides dict may hold ``CONFIG_KEY`` ('config'): the cells of that value then run
  that config (``NAME[:VARIANTS]`` or a file) instead of the sweep's base config.
  """
  name: str
  values: Mapping[str, Mapping[str, Any]]

  @classmethod
  def of(cls, key: str, values: Sequence, name: str | None = None) -> 'Axis':
    """An axis over the values of one config key, each labelled by its ``str``."""
    return cls(name or key.rsplit('.', 1)[-1], {_label(v): {key: v} for v in values})


def _label(value) -> str:
  if isinstance(value, bool):
    return 'on' if value else 'off'
  return f'{value:g}' if isinstance(value, float) else str(value)


@dataclasses.dataclass(frozen=True)
class Metric:
  """A number read from a run directory; ``best`` is its min or max over the run.

  ``source`` is a JSONL file of ``{"step": s, ...}`` rows (metrics.jsonl, evals.jsonl:
  final = the last row's value, best = over all rows) or a JSON file (eval.json,
  run_info.json: final = best). ``key`` may be dotted (``final_losses.total``).
  """
  name: str
  key: str
  source: str = 'metrics.jsonl'
  mode: str = 'min'
  scale: float = 1.0  # e.g. 100 for a fraction shown as a percentage


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A base config (``NAME[:variants]`` or ``path.py[:variants]`` plus ``base`` overrides)
  times ``axes`` times ``seeds``.

  ``seed_keys``: config keys every seed is written to. ``image``: the file (or glob; the
  last match is used) of each run shown in the contact sheet, '' for none. The first
  axis gives the sheet's rows, the others its columns. ``derive(labels) -> overrides``
  adds settings that depend on several axes at once (a paper's per-style ratio under
  one convention only); they apply after the axes' own. ``baseline`` ({axis: label},
  naming some or all axes) is the setting every group is compared with in the report
  (Welch's t-test; ``jaxstyle sweep report --baseline`` overrides it).
  """
  name: str
  config: str
  base: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  axes: Sequence[Axis] = ()
  seeds: Sequence[int] = (0,)
  seed_keys: Sequence[str] = ('seed',)
  metrics: Sequence[Metric] = ()
  image: str = ''
  description: str = ''
  entry: str = 'jaxstyle'  # the module run as ``python -m ENTRY run CONFIG --workdir ...``
  derive: Callable[[dict], dict] | None = None
  baseline: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Cell:
  """One run of a sweep (``expand`` makes them): its directory name, its label on each
  axis, its seed, the ``--config.KEY=VALUE`` overrides it runs with, and its config
  (``NAME[:VARIANTS]``; an axis value may replace the sweep's)."""
  name: str
  labels: dict[str, str]
  seed: int
  overrides: dict[str, Any]
  config: str

  def args(self, workdir: str | Path) -> list[str]:
    """The ``jaxstyle`` arguments that run this cell."""
    return (['run', self.config, f'--workdir={workdir}'] +
            [f'--config.{k}={_format(v)}' for k, v in self.overrides.items()])


def _format(value) -> str:
  return repr(value) if isinstance(value, float) else str(value)


def cell_name(labels: Mapping[str, str], seed: int) -> str:
  """The run name of a cell, e.g. ``loss=hinge__sn=on__seed=1`` (axes in order)."""
  return '__'.join([f'{a}={l}' for a, l in labels.items()] + [f'seed={seed}'])


def expand(sweep: Sweep) -> list[Cell]:
  """The cells in order: axes vary slowest-first, then seeds. Raises ConfigError."""
  names = [a.name for a in sweep.axes]
  if len(set(names)) != len(names) or 'seed' in names:
    raise ConfigError(f'sweep {sweep.name}: axis names must be distinct and not "seed", '
                      f'got {names}')
  for axis in sweep.axes:
    if not axis.values:
      raise ConfigError(f'sweep {sweep.name}: axis {axis.name!r} has no values')
    for label in [axis.name, *axis.values]:
      if not _LABEL.match(label) or '__' in label or '=' in label:
        raise ConfigError(f'sweep {sweep.name}: label {label!r} of axis {axis.name!r} must be '
                          f'letters, digits, ".", "+", "-" or single "_" (it names a directory)')
  if not sweep.seeds or len(set(sweep.seeds)) != len(sweep.seeds):
    raise ConfigError(f'sweep {sweep.name}: seeds must be a non-empty list of distinct '
                      f'integers, got {list(sweep.seeds)}')
  cells = []
  for combo in itertools.product(*[list(a.values.items()) for a in sweep.axes]):
    labels = {a.name: label for a, (label, _) in zip(sweep.axes, combo)}
    overrides = dict(sweep.base)
    for _, values in combo:
      overrides.update(values)
    if sweep.derive is not None:
      overrides.update(sweep.derive(dict(labels)))
    config = overrides.pop(CONFIG_KEY, sweep.config)
    for seed in sweep.seeds:
      cell_overrides = {**overrides, **{k: int(seed) for k in sweep.seed_keys}}
      cells.append(Cell(cell_name(labels, seed), labels, int(seed), cell_overrides, config))
  return cells


def load_sweep(spec: str) -> Sweep:
  """``NAME[:arg]`` (a shipped sweep) or ``path.py[:arg]`` -> the file's ``get_sweep(arg)``."""
  name, _, arg = spec.partition(':')
  path = config_lib.resolve(name, config_lib.SWEEP_GROUP)
  module = config_lib.load_module(path, 'sweep')
  if not hasattr(module, 'get_sweep'):
    raise ConfigError(f'sweep file {path} defines no get_sweep(arg=None)')
  try:
    return module.get_sweep(arg or None)
  except ValueError as e:
    raise ConfigError(f'sweep {spec}: {e}') from None


def check_overrides(sweep: Sweep, cells: Sequence[Cell]) -> None:
  """Applies every cell's overrides to the base config: unknown keys and wrong types fail."""
  configs = {}
  for cell in cells:
    if cell.config not in configs:
      configs[cell.config] = config_lib.load(cell.config)
    c = ml_collections.ConfigDict(configs[cell.config].to_dict())
    try:
      config_lib.apply_overrides(c, cell.overrides)
    except ConfigError as e:
      raise ConfigError(f'sweep {sweep.name}: cell {cell.name} ({cell.config}): {e}') from None


def share(cells: Sequence[Cell], host_index: int, num_hosts: int) -> list[Cell]:
  """The cells host ``host_index`` of ``num_hosts`` runs: every num_hosts-th, disjoint."""
  if num_hosts < 1 or not 0 <= host_index < num_hosts:
    raise ConfigError(f'host index {host_index} is not in [0, {num_hosts}); give '
                      f'--host-index in 0..num_hosts-1')
  return [c for i, c in enumerate(cells) if i % num_hosts == host_index]


def host_from_env(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
  """(host index, number of hosts): JAXSTYLE_SWEEP_HOST_INDEX / _NUM_HOSTS, else the
  TPU_WORKER_ID / TPU_WORKER_HOSTNAMES that TPU hosts on GKE get, else (0, 1)."""
  if 'JAXSTYLE_SWEEP_NUM_HOSTS' in environ:
    return (int(environ.get('JAXSTYLE_SWEEP_HOST_INDEX', 0)),
            int(environ['JAXSTYLE_SWEEP_NUM_HOSTS']))
  if environ.get('TPU_WORKER_ID') and environ.get('TPU_WORKER_HOSTNAMES'):
    return int(environ['TPU_WORKER_ID']), len(environ['TPU_WORKER_HOSTNAMES'].split(','))
  return 0, 1


class SweepDir:
  """The files of one sweep directory (layout in the module docstring)."""

  def __init__(self, root: str | Path):
    self.root = Path(root)

  def run_dir(self, name: str) -> Path:
    """The run directory of cell ``name``: ROOT/runs/NAME."""
    return self.root / 'runs' / name

  def log_path(self, name: str) -> Path:
    """The file collecting cell ``name``'s output over all attempts: ROOT/logs/NAME.log."""
    return self.root / 'logs' / f'{name}.log'

  def _state_path(self, name: str) -> Path:
    return self.root / 'claims' / f'{name}.json'

  def write_plan(self, sweep: Sweep, cells: Sequence[Cell]) -> None:
    """Records the cells in sweep.json; a changed cell under an old name is an error."""
    path = self.root / 'sweep.json'
    entries = [{'name': c.name, 'labels': c.labels, 'seed': c.seed, 'overrides': c.overrides,
                'config': c.config, 'command': command(sweep, c, self.run_dir(c.name))}
               for c in cells]
    if path.exists():
      old = json.loads(path.read_text())
      if not same_config(old['config'], sweep.config):
        raise ConfigError(f'{self.root} is a sweep of {old["config"]}, not {sweep.config}; '
                          f'choose another --dir')
      before = {e['name']: e for e in old['cells']}
      for entry in entries:
        prior = before.get(entry['name'])
        if prior is None:
          continue
        was = (prior.get('config', old['config']), prior['overrides'])
        now = (entry['config'], json.loads(json.dumps(entry['overrides'])))
        if not same_config(was[0], now[0]) or was[1] != now[1]:
          raise ConfigError(f'cell {entry["name"]} in {self.root} was run as {was[0]} with '
                            f'{was[1]}, now {now[0]} with {now[1]} (a changed sweep file or '
                            f'--config option): choose a new --dir, or delete that cell\'s '
                            f'runs/ and claims/ entries')
      names = {e['name'] for e in entries}
      entries += [e for e in old['cells'] if e['name'] not in names]  # cells since removed
    for sub in ('runs', 'claims', 'logs'):
      (self.root / sub).mkdir(parents=True, exist_ok=True)
    # Lists, not dicts, wherever order matters: JSON files here are written key-sorted.
    write_json(path, {'name': sweep.name, 'config': sweep.config,
                      'description': sweep.description,
                      'axes': [{'name': a.name, 'labels': list(a.values)} for a in sweep.axes],
                      'seeds': list(sweep.seeds), 'image': sweep.image,
                      'metrics': [dataclasses.asdict(m) for m in sweep.metrics],
                      'baseline': dict(sweep.baseline) if sweep.baseline else None,
                      'cells': entries})

  def state(self, name: str) -> dict:
    """Cell ``name``'s record from ROOT/claims/NAME.json: 'status' (pending, running,
    completed, interrupted or failed), 'attempts', and what the runner last set."""
    path = self._state_path(name)
    if not path.exists():
      return {'status': 'pending', 'attempts': 0}
    state = json.loads(path.read_text())
    if state.get('status') == 'done':  # sweep directories written before 0.2
      state['status'] = 'completed'
    return state

  def set_state(self, name: str, **fields) -> dict:
    """Merges ``fields`` into cell ``name``'s record with an 'updated' time, writes it
    atomically and returns it."""
    state = {**self.state(name), **fields, 'updated': time.strftime('%Y-%m-%dT%H:%M:%S')}
    write_json(self._state_path(name), state)
    return state

  def claim(self, name: str) -> 'Claim | None':
    """An exclusive claim on a cell, or None while another process holds it."""
    fd = os.open(self.root / 'claims' / f'{name}.lock', os.O_RDWR | os.O_CREAT, 0o666)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(fd)
      return None
    return Claim(fd)


class Claim:
  """A held cell lock. Pass ``fd`` to the run's process (``pass_fds``) so that the lock
  outlives a killed worker for as long as the run itself is alive."""

  def __init__(self, fd: int):
    self.fd = fd

  def release(self) -> None:
    """Closes this process's descriptor of the lock (idempotent); the cell is free once
    the run holding the inherited descriptor has exited too."""
    if self.fd >= 0:
      os.close(self.fd)  # the lock goes when the last descriptor sharing it is closed
      self.fd = -1

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()


def same_config(a: str, b: str) -> bool:
  """Whether two config specs name the same file and variants (``mixture_ring8`` and
  ``experiments/configs/mixture_ring8.py``, as sweep directories before 0.2 recorded it)."""
  if a == b:
    return True
  (name_a, _, arg_a), (name_b, _, arg_b) = a.partition(':'), b.partition(':')
  try:
    return arg_a == arg_b and config_lib.resolve(name_a).resolve() == \
        config_lib.resolve(name_b).resolve()
  except ConfigError:
    return False


def command(sweep: Sweep, cell: Cell, workdir: str | Path) -> str:
  """The shell command that runs one cell by hand."""
  return shlex.join(['python', '-m', sweep.entry, *cell.args(workdir)])
