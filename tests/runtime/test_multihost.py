"""Multi-host runs through the real command: two processes on 127.0.0.1 joined by
``jax.distributed`` (one CPU device each) train, checkpoint, resume, evaluate and exit
cleanly, with the numbers of one process holding both devices; SIGTERM to one of them
stops both at the same step with one complete checkpoint, and the resumed run ends
where an uninterrupted one does.

Each test starts a few JAX processes (~10-20 s each on 2 cores): the reference for
"the same" is always a one-process run of the same command with the same global batch
on the same number of devices, not the code under test's own output.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 420


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _env(**extra) -> dict:
  env = {k: v for k, v in os.environ.items() if k not in (
      'JAXSTYLE_COORDINATOR', 'JAXSTYLE_NUM_PROCESSES', 'JAXSTYLE_PROCESS_ID',
      'JAXSTYLE_DISTRIBUTED')}
  return {**env, 'PYTHONPATH': str(ROOT), 'JAX_PLATFORMS': 'cpu', **extra}


def _command(config, workdir, overrides):
  return [sys.executable, '-m', 'jaxstyle', 'run', config, '--workdir', str(workdir),
          *[f'--config.{k}={v}' for k, v in overrides.items()]]


def _start_two(config, workdir, overrides, devices=1):
  """Both processes of a 2-process run (``devices`` CPU devices each), started, not
  waited for."""
  port = _free_port()
  return [subprocess.Popen(
      _command(config, workdir, overrides), cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True,
      env=_env(JAX_NUM_CPU_DEVICES=str(devices), JAXSTYLE_COORDINATOR=f'127.0.0.1:{port}',
               JAXSTYLE_NUM_PROCESSES='2', JAXSTYLE_PROCESS_ID=str(i)))
          for i in range(2)]


def _wait(procs) -> list[tuple[int, str]]:
  try:
    outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
  finally:
    for p in procs:
      p.kill()
  return [(p.returncode, out) for p, out in zip(procs, outs)]


def _run_two(config, workdir, overrides, devices=1) -> list[str]:
  results = _wait(_start_two(config, workdir, overrides, devices))
  for i, (rc, out) in enumerate(results):
    assert rc == 0, f'process {i} exited {rc}:\n{out[-4000:]}'
    assert 'Traceback' not in out, f'process {i}:\n{out[-4000:]}'
  return [out for _, out in results]


def _run_one(config, workdir, overrides, devices=2) -> str:
  """The reference: one process holding all the devices, the same global batch."""
  p = subprocess.run(_command(config, workdir, overrides), cwd=ROOT, capture_output=True,
                     text=True, timeout=TIMEOUT, env=_env(JAX_NUM_CPU_DEVICES=str(devices)))
  assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
  return p.stdout


def _metrics(workdir, after=0):
  rows = [json.loads(line) for line in (Path(workdir) / 'metrics.jsonl').read_text().splitlines()]
  return {r['step']: {k: v for k, v in r.items() if k != 'steps_per_sec'}
          for r in rows if r['step'] > after}


def _assert_same_run(got, ref, after=0):
  """Same metric rows (allclose: the all-reduce runs over gloo in one case and in-process
  in the other, which may sum in another order) and the same final sample figure."""
  got_rows, ref_rows = _metrics(got, after), _metrics(ref, after)
  assert got_rows.keys() == ref_rows.keys() and got_rows
  for step in ref_rows:
    for k, v in ref_rows[step].items():
      np.testing.assert_allclose(got_rows[step][k], v, rtol=1e-4, atol=1e-6, err_msg=f'{k}@{step}')
  last = max(ref_rows)
  a, b = (np.asarray(Image.open(Path(d) / 'samples' / f'step_{last:07d}.png'), np.int16)
          for d in (got, ref))
  assert np.abs(a - b).max() <= 1


def _checkpoint_steps(workdir):
  return sorted(int(p.name) for p in (Path(workdir) / 'checkpoints').iterdir()
                if p.name.isdigit())


GAN = dict(**{'train.batch_size': 16, 'log.every': 3, 'log.sample_every': 3,
              'checkpoint.every': 3, 'log.tensorboard': False})


def test_gan_pmap_two_processes_train_checkpoint_resume_evaluate_like_one(tmp_path):
  """The default mode, which crashed at the first checkpoint (its state is one copy per
  local device): 2 processes x 2 devices, 6 steps, then resumed to 9."""
  run = tmp_path / 'two'
  _run_two('mixture_ring8', run, {**GAN, 'train.num_steps': 6}, devices=2)
  assert _checkpoint_steps(run) == [3, 6]
  outs = _run_two('mixture_ring8', run, {**GAN, 'train.num_steps': 9}, devices=2)
  assert all(out.strip().splitlines()[-1].startswith(f'completed: {run} (step 9') for out in outs)
  info = json.loads((run / 'run_info.json').read_text())
  assert info['status'] == 'completed' and info['resumed_from_step'] == 6
  assert info['process_count'] == 2 and len(info['devices']) == 4
  ref = tmp_path / 'one'
  _run_one('mixture_ring8', ref, {**GAN, 'train.num_steps': 9}, devices=4)
  _assert_same_run(run, ref)
  got, want = (json.loads((d / 'eval.json').read_text()) for d in (run, ref))
  assert got.pop('eval_seconds') > 0 and want.pop('eval_seconds') > 0
  assert got == want


@pytest.mark.slow  # ~80 s on 2 cores; two-process training, checkpoint and resume are above
def test_sigterm_to_one_process_stops_both_at_one_step_and_resumes_exactly(tmp_path):
  """shard_map mode; SIGTERM to process 1 only, as a scheduler might send it."""
  run = tmp_path / 'two'
  long = {**GAN, 'parallel.mode': 'shard_map', 'parallel.stop_sync_every': 4,
          'train.num_steps': 100_000, 'checkpoint.every': 100_000, 'log.every': 4,
          'log.sample_every': 100_000, 'eval.kind': 'none'}
  procs = _start_two('mixture_ring8', run, long)
  deadline = time.time() + TIMEOUT
  while not (run / 'metrics.jsonl').exists() or not (run / 'metrics.jsonl').read_text():
    assert time.time() < deadline and all(p.poll() is None for p in procs), 'no training'
    time.sleep(0.2)
  procs[1].send_signal(signal.SIGTERM)
  results = _wait(procs)
  for i, (rc, out) in enumerate(results):
    assert rc == 130, f'process {i} exited {rc}:\n{out[-4000:]}'
    assert 'interrupted: a checkpoint of the last completed step' in out, out[-2000:]
  steps = _checkpoint_steps(run)
  assert len(steps) == 1 and steps[0] % 4 == 0 and 0 < steps[0] < 100_000, steps
  stopped = steps[0]
  assert not [p for p in (run / 'checkpoints').iterdir() if 'tmp' in p.name]
  assert json.loads((run / 'run_info.json').read_text())['status'] == 'interrupted'

  # The resumed run also evaluates (eval.* may change on resume).
  end = {**long, 'train.num_steps': stopped + 8, 'log.sample_every': stopped + 8,
         'eval.kind': 'modes'}
  _run_two('mixture_ring8', run, end)
  ref = tmp_path / 'one'
  _run_one('mixture_ring8', ref, end)
  _assert_same_run(run, ref)
  got, want = (json.loads((d / 'eval.json').read_text()) for d in (run, ref))
  assert got.pop('eval_seconds') > 0 and want.pop('eval_seconds') > 0
  assert got == want


@pytest.mark.slow  # the same training loop as the GAN tests above; ~3 min on 2 cores
@pytest.mark.usefixtures('hed_installed')
def test_feedforward_two_processes_both_modes_resume_like_one(tmp_path):
  photos = tmp_path / 'photos'
  photos.mkdir()
  rng = np.random.default_rng(0)
  for i in range(6):
    Image.fromarray(rng.integers(0, 256, (44, 48, 3), dtype=np.uint8)).save(photos / f'{i}.png')
  style = tmp_path / 'style.png'
  Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(style)
  overrides = {'data.path': photos, 'style_image': style, 'train.num_steps': 4}
  run, ref = tmp_path / 'two', tmp_path / 'one'
  # Two steps under pmap, then resumed to four under shard_map (parallel.* may change on
  # resume): both modes, a checkpoint and a resume on two processes.
  _run_two('johnson:folder,smoke', run, {**overrides, 'train.num_steps': 2})
  assert _checkpoint_steps(run) == [2]
  _run_two('johnson:folder,smoke', run, {**overrides, 'parallel.mode': 'shard_map'})
  assert _checkpoint_steps(run) == [2, 4]
  assert json.loads((run / 'run_info.json').read_text())['resumed_from_step'] == 2
  assert (run / 'model.jaxstyle').exists()
  _run_one('johnson:folder,smoke', ref, overrides)
  _assert_same_run(run, ref)
