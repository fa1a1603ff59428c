"""The sweep runner behind ``jaxstyle sweep run|status|report`` (see ``jaxstyle.cli``).

`run` expands the sweep into cells and runs each as its own
``python -m jaxstyle run CONFIG --workdir DIR/runs/CELL ...`` process. It skips finished
cells, resumes interrupted training runs from their checkpoints (a Gatys run, which has
none, restarts; the partial attempt is kept as CELL.attempt-N), and claims every cell
with a lock so that workers sharing DIR never run one cell twice. ``--workers N`` starts
N worker processes on this machine (``--cores-per-worker K`` pins each to K cores; on a
GPU or TPU host each gets its own devices, ``jaxstyle.sweeps.devices``). On
several hosts (a TPU slice: every host runs the same command) each host takes every
num_hosts-th cell: ``--host-index/--num-hosts``, or JAXSTYLE_SWEEP_HOST_INDEX /
JAXSTYLE_SWEEP_NUM_HOSTS, or GKE's TPU_WORKER_ID / TPU_WORKER_HOSTNAMES; each cell then
runs on its host's own devices.

`report` writes table.md (final and best of each metric, mean ± standard error over
seeds, wall time), summary.json and, for image sweeps, sheet.png -- from DIR alone.
The runner reports progress as timestamped lines on stdout: it is a command's engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from jaxstyle.errors import ConfigError
from jaxstyle.runtime import config as config_lib
from jaxstyle.runtime.rundir import write_json
from jaxstyle.sweeps import devices as devicelib
from jaxstyle.sweeps import report as sweep_report
from jaxstyle.sweeps import spec as sweeplib

# Tasks whose runs resume from their own checkpoints when started again in the same workdir.
RESUMABLE_TASKS = ('gan', 'feedforward')
# Variables that make a run join a multi-host JAX cluster: a host running its own share of
# cells must not (the other hosts run other cells).
_CLUSTER_ENV = ('JAXSTYLE_DISTRIBUTED', 'JAXSTYLE_COORDINATOR', 'JAXSTYLE_NUM_PROCESSES',
                'JAXSTYLE_PROCESS_ID')


def _say(worker: str, text: str) -> None:
  print(f'[{time.strftime("%H:%M:%S")} {worker}] {text}', flush=True)


def _last_error(log: Path) -> str:
  if not log.exists():
    return ''
  lines = [l.strip() for l in log.read_text(errors='replace').splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith('error:')]
  return (errors or lines or [''])[-1][:500]


class Worker:
  """Runs the cells of one share, one at a time, each under its claim."""

  def __init__(self, sweep: sweeplib.Sweep, cells, sdir: sweeplib.SweepDir, *, name: str,
               retry_failed: bool, own_cluster: bool, env=None,
               host: devicelib.HostDevices | None = None):
    self.sweep, self.cells, self.sdir, self.name = sweep, cells, sdir, name
    self.retry_failed, self.own_cluster = retry_failed, own_cluster
    # The environment every cell starts from (its devices' variables set) and the devices
    # it names, recorded with each cell.
    self.env = dict(os.environ if env is None else env)
    self.host = host or devicelib.HostDevices('cpu')
    tasks = {name: config_lib.load(name).task for name in {c.config for c in cells}}
    self.resumable = {c.name: tasks[c.config] in RESUMABLE_TASKS for c in cells}
    self.counts = {'ran': 0, 'already_completed': 0, 'failed': 0, 'skipped_failed': 0}

  def run(self) -> dict:
    """Runs every cell of the share not completed yet (failed ones too with
    ``retry_failed``), skipping cells another worker holds, until a pass runs nothing.

    Returns counts {'ran', 'already_completed', 'failed', 'skipped_failed'}. Ctrl-C/SIGTERM
    raise KeyboardInterrupt after the running cell has been stopped.
    """
    tried = set()
    while True:  # another pass picks up cells whose holder died during this one
      ran = False
      for cell in self.cells:
        if cell.name in tried:
          continue
        state = self.sdir.state(cell.name)
        if state['status'] == 'completed':
          self.counts['already_completed'] += 1
          tried.add(cell.name)
          continue
        if state['status'] == 'failed' and not self.retry_failed:
          self.counts['skipped_failed'] += 1
          tried.add(cell.name)
          continue
        claim = self.sdir.claim(cell.name)
        if claim is None:
          continue  # another worker runs it
        with claim:
          tried.add(cell.name)
          status = self.sdir.state(cell.name)['status']  # another worker may have finished it
          if status == 'completed':
            self.counts['already_completed'] += 1
            continue
          if status == 'failed' and not self.retry_failed:
            self.counts['skipped_failed'] += 1
            continue
          self._run_cell(cell, claim)
          ran = True
      if not ran:
        return self.counts

  def _run_cell(self, cell: sweeplib.Cell, claim: sweeplib.Claim) -> None:
    run_dir = self.sdir.run_dir(cell.name)
    if run_dir.exists() and any(run_dir.iterdir()) and not self.resumable[cell.name]:
      attempt = 1
      while run_dir.with_name(f'{cell.name}.attempt-{attempt}').exists():
        attempt += 1
      run_dir.rename(run_dir.with_name(f'{cell.name}.attempt-{attempt}'))  # keep it
    before = self.sdir.state(cell.name)
    self.sdir.set_state(cell.name, status='running', attempts=before['attempts'] + 1,
                        worker=self.name, host=socket.gethostname(), pid=os.getpid(),
                        started=time.strftime('%Y-%m-%dT%H:%M:%S'),
                        accelerator=self.host.accelerator, devices=list(self.host.devices))
    env = dict(self.env)
    # Cells differing only in seed or data compile the same programs: share them.
    env.setdefault('JAX_COMPILATION_CACHE_DIR', str(self.sdir.root.absolute() / 'jax_cache'))
    if self.own_cluster:
      for key in _CLUSTER_ENV:
        env.pop(key, None)
    args = [sys.executable, '-m', self.sweep.entry, *cell.args(run_dir)]
    log = self.sdir.log_path(cell.name)
    _say(self.name, f'run {cell.name}')
    start = time.time()
    with open(log, 'ab') as out:
      out.write(f'\n$ {shlex.join(args)}\n'.encode())
      out.flush()
      # Own session: a terminal's Ctrl-C reaches this worker only, which passes one
      # SIGTERM on: the run handles it like Ctrl-C (checkpoint, stop), and unlike SIGINT it
      # is not ignored by a run that inherited a background job's ignored SIGINT. One
      # signal only: a second would interrupt the run's checkpointing. The run inherits
      # the claim's descriptor, so the cell stays locked while it lives.
      proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                              pass_fds=(claim.fd,), start_new_session=True)
      interrupted = False
      while True:
        try:
          rc = proc.wait()
          break
        except KeyboardInterrupt:
          if not interrupted:
            interrupted = True
            proc.send_signal(signal.SIGTERM)
    wall = round(time.time() - start, 1)
    if rc == 0:
      self.sdir.set_state(cell.name, status='completed', returncode=0, wall_time_s=wall, error='')
      self.counts['ran'] += 1
      _say(self.name, f'completed {cell.name} ({wall} s)')
      if interrupted:  # it finished as the stop came: start no other cell
        raise KeyboardInterrupt
    elif interrupted or rc in (130, -signal.SIGINT, -signal.SIGTERM):
      self.sdir.set_state(cell.name, status='interrupted', returncode=rc, wall_time_s=wall)
      _say(self.name, f'interrupted {cell.name}; run the same command again to continue')
      raise KeyboardInterrupt
    else:
      error = _last_error(log)
      self.sdir.set_state(cell.name, status='failed', returncode=rc, wall_time_s=wall,
                          error=error)
      self.counts['failed'] += 1
      _say(self.name, f'FAILED {cell.name} (exit {rc}): {error}  [log: {log}]')


def _select(cells, only: str):
  if not only:
    return cells
  try:
    pattern = re.compile(only)
  except re.error as e:
    raise ConfigError(f'--only {only!r} is not a regular expression ({e})') from None
  return [c for c in cells if pattern.search(c.name)]


def _with_overrides(sweep: sweeplib.Sweep, overrides) -> sweeplib.Sweep:
  """The sweep with command-line ``--config.KEY=VALUE`` added to its base, typed by the
  config (a cell's own axis values still win)."""
  if not overrides:
    return sweep
  config = config_lib.apply_overrides(config_lib.load(sweep.config), overrides)
  typed = {key: config[key] for key, _ in overrides}
  return dataclasses.replace(sweep, base={**sweep.base, **typed})


def cmd_run(args, overrides=()) -> int:
  """``jaxstyle sweep run``: ``args`` from ``jaxstyle.cli``'s parser, ``overrides`` the
  ``[(key, value)]`` of ``--config.KEY=VALUE``.

  Writes the plan to the sweep directory and runs this host's share of the cells here
  (``--workers N``: in N worker processes); ``--dry-run`` only prints their commands.
  Returns the exit status: 0 when every cell of the share completed, 1 if any failed,
  130 when stopped by Ctrl-C/SIGTERM.
  """
  sweep = _with_overrides(sweeplib.load_sweep(args.sweep), overrides)
  cells = sweeplib.expand(sweep)
  sweeplib.check_overrides(sweep, cells)
  host_index, num_hosts = sweeplib.host_from_env()
  if args.num_hosts is not None:
    host_index, num_hosts = args.host_index or 0, args.num_hosts
  root = Path(args.dir or f'runs/sweeps/{sweep.name}')
  sdir = sweeplib.SweepDir(root)
  mine = _select(sweeplib.share(cells, host_index, num_hosts), args.only)
  # Devices before anything is written or started: a request the host cannot meet is one
  # error line. A spawned worker finds its own slice in the environment it was given.
  host = devicelib.detect(getattr(args, 'accelerator', 'auto'))
  envs, slices = _worker_envs(args, host, num_hosts)
  if args.dry_run:
    for cell in mine:
      print(sweeplib.command(sweep, cell, sdir.run_dir(cell.name)))
    return 0
  sdir.write_plan(sweep, cells)
  name = args.worker_name or f'host{host_index}'
  if host.accelerator != 'cpu' and not args.worker_name:
    _say(name, devicelib.describe(host, slices))
  if args.workers > 1:
    return _spawn_workers(args, root, overrides, host, envs)
  if args.cpus:
    os.sched_setaffinity(0, [int(c) for c in args.cpus.split(',')])
  _say(name, f'{len(mine)} of {len(cells)} cells of {sweep.name} in {root}'
       + (f' (host {host_index} of {num_hosts})' if num_hosts > 1 else ''))
  signal.signal(signal.SIGTERM, signal.default_int_handler)  # preemption: like Ctrl-C
  worker = Worker(sweep, mine, sdir, name=name, retry_failed=args.retry_failed,
                  own_cluster=num_hosts > 1, env=envs[0],
                  host=dataclasses.replace(host, devices=tuple(slices[0])))
  try:
    counts = worker.run()
  except KeyboardInterrupt:
    _say(name, 'stopped; run the same command again to continue')
    return 130
  _say(name, ', '.join(f'{k.replace("_", " ")} {v}' for k, v in counts.items()))
  return 1 if counts['failed'] or counts['skipped_failed'] else 0


def _worker_envs(args, host: devicelib.HostDevices, num_hosts: int):
  """([environment of each worker], [devices of each worker]) on this host."""
  k, share = getattr(args, 'devices_per_worker', 0), getattr(args, 'share_devices', False)
  slices = devicelib.split(args.workers, host.accelerator, host.devices, k, share)
  envs = [devicelib.worker_env(i, args.workers, host.accelerator, host.devices, k, share)
          for i in range(args.workers)]
  divided = any(tuple(s) != host.devices for s in slices) or devicelib.is_shared(slices)
  if divided and host.accelerator == 'tpu' and num_hosts > 1:
    # Each host of a multi-host slice is wired to the others; carving it into one-process
    # slices is a different topology than the recipe for one TPU VM, and untested.
    raise ConfigError(f'--workers {args.workers} would split the TPU chips of a host of a '
                      f'{num_hosts}-host slice; use --workers 1 (one worker per host holding '
                      f'its chips)')
  if divided:
    for env in envs:  # a cell on a share of the devices is a run of its own
      for key in _CLUSTER_ENV:
        env.pop(key, None)
  return envs, slices


def _spawn_workers(args, root: Path, overrides, host: devicelib.HostDevices, envs) -> int:
  cpus = sorted(os.sched_getaffinity(0))
  k = args.cores_per_worker
  if k and k * args.workers > len(cpus):
    raise ConfigError(f'--workers {args.workers} x --cores-per-worker {k} needs '
                      f'{k * args.workers} cores; this process may use {len(cpus)}')
  procs = []
  for i in range(args.workers):
    # The worker's devices are in its environment (envs[i]): it detects them as its pool.
    cmd = [sys.executable, '-m', 'jaxstyle', 'sweep', 'run', args.sweep, '--dir', str(root),
           '--workers', '1', '--worker-name', f'w{i}', '--accelerator', host.accelerator,
           *[f'--config.{k}={v}' for k, v in overrides]]
    if args.num_hosts is not None:
      cmd += ['--host-index', str(args.host_index or 0), '--num-hosts', str(args.num_hosts)]
    if args.retry_failed:
      cmd.append('--retry-failed')
    if args.only:
      cmd += ['--only', args.only]
    if k:
      cmd += ['--cpus', ','.join(str(c) for c in cpus[i * k:(i + 1) * k])]
    procs.append(subprocess.Popen(cmd, env=envs[i], start_new_session=True))
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  try:
    codes = [p.wait() for p in procs]
  except KeyboardInterrupt:
    for p in procs:
      if p.poll() is None:
        p.send_signal(signal.SIGTERM)  # handled like Ctrl-C; never inherited as ignored
    for p in procs:
      p.wait()
    return 130
  return max(codes)


def cmd_status(args) -> int:
  """``jaxstyle sweep status DIR``: prints the number of cells per state and one line per
  failed, interrupted or running cell (with its last error); returns 0."""
  plan, rows = sweep_report.collect(args.dir)
  by_status = {}
  for r in rows:
    by_status.setdefault(r['status'], []).append(r['name'])
  print(f'{plan["name"]}: {len(rows)} cells, ' +
        ', '.join(f'{k} {len(v)}' for k, v in sorted(by_status.items())))
  for status in ('failed', 'interrupted', 'running'):
    for name in by_status.get(status, []):
      state = json.loads((Path(args.dir) / 'claims' / f'{name}.json').read_text())
      where = (f' [{state.get("worker")}: {state["accelerator"]} '
               f'{",".join(state.get("devices", []))}]'
               if status == 'running' and state.get('accelerator') not in (None, 'cpu') else '')
      print(f'  {status}: {name}{where} {state.get("error", "")}')
  return 0


def cmd_report(args) -> int:
  """``jaxstyle sweep report DIR``: writes table.md (mean ± s.e. [95 % CI] over seeds, the
  fingerprints, and with a baseline -- ``--baseline AXIS=LABEL,...`` or the sweep's own --
  Welch's t-test of every group against it), summary.json and, if the sweep names an
  image, sheet.png (tiles of ``--tile`` px) into ``--out`` (default DIR); returns 0."""
  plan, rows = sweep_report.collect(args.dir)
  if getattr(args, 'only', ''):
    plan, rows = sweep_report.subset(plan, rows, args.only)
  groups = sweep_report.aggregate(plan, rows)
  chosen = getattr(args, 'baseline', None)
  baseline = sweep_report.resolve_baseline(plan, rows, plan.get('baseline') if chosen is None
                                           else chosen)
  comparison = sweep_report.compare(plan, groups, rows, baseline) if baseline else None
  out = Path(args.out or args.dir)
  out.mkdir(parents=True, exist_ok=True)
  table_path = out / 'table.md'
  table_path.write_text(sweep_report.document(plan, groups, rows, comparison))
  fingerprints = {r['fingerprint']: r['fingerprint_info'] for r in rows if r['fingerprint']}
  write_json(out / 'summary.json', {
      'name': plan['name'], 'config': plan['config'],
      # What `jaxstyle reproduce` needs to rerun and re-read any cell from this file alone.
      'metrics': plan['metrics'], 'axes': plan['axes'], 'seeds': plan['seeds'],
      'hardware': sorted({r['hardware'] for r in rows if r['hardware']}),
      'commits': sorted({r['commit'][:10] for r in rows if r['commit']}),
      'total_run_time_s': round(sum(r['wall_time_s'] or 0 for r in rows
                                    if r['status'] == 'completed'), 1),
      'fingerprints': fingerprints,
      'majority_fingerprint': sweep_report.majority_fingerprint(rows),
      'baseline': comparison, 'groups': groups,
      'cells': [{k: v for k, v in r.items() if k != 'fingerprint_info'} for r in rows]})
  written = [table_path, out / 'summary.json']
  if plan.get('image'):
    sheet = sweep_report.contact_sheet(args.dir, plan, rows, tile=args.tile)
    sheet.save(out / 'sheet.png')
    written.append(out / 'sheet.png')
  print('wrote ' + ', '.join(str(p) for p in written))
  return 0
