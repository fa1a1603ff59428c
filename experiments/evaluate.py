"""Evaluates a GAN run's checkpoint again, e.g. another step, or FID once weights exist.

    python -m experiments.evaluate --workdir runs/NAME [--step N] [--set eval.kind=fid]
        [--set eval.inception_weights=/path/pt_inception-2015-12-05-6726825d.pth]

Reads the run's config.json, restores checkpoint ``step`` (default: the latest) and
writes ``eval_step_N.json`` next to it: the evaluation of any saved step, so the best
checkpoint can be told from the final one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ml_collections
from absl import app, flags

from jaxstyle import checkpoint, parallel
from jaxstyle.errors import ConfigError, JaxstyleError
from jaxstyle.logging import write_json

_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory of a GAN run.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_SET = flags.DEFINE_multi_string('set', [], 'eval.KEY=VALUE overrides of the run config.')
flags.mark_flag_as_required('workdir')


def evaluate(workdir: str | Path, step: int | None = None, overrides=()) -> dict:
  from experiments import gan, gan_eval
  workdir = Path(workdir)
  if not (workdir / 'config.json').exists():
    raise ConfigError(f'{workdir} has no config.json: not a run directory')
  config = ml_collections.ConfigDict(json.loads((workdir / 'config.json').read_text()))
  for item in overrides:
    key, _, value = item.partition('=')
    if not key.startswith('eval.') or key.split('.', 1)[1] not in config.eval:
      raise ConfigError(f'--set {item!r}: only existing eval.* keys can be changed')
    old = config.eval[key.split('.', 1)[1]]
    config.eval[key.split('.', 1)[1]] = type(old)(value) if not isinstance(old, str) else value
  source, shape, transform, trainer = gan.build(config)
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints', 1)
  if ckpt.latest_step() is None:
    raise ConfigError(f'{workdir}/checkpoints holds no checkpoint')
  step = ckpt.latest_step() if step is None else step
  if step not in ckpt.manager.all_steps():
    raise ConfigError(f'no checkpoint at step {step}; saved steps: {ckpt.manager.all_steps()}')
  state, _ = ckpt.restore(trainer.init(int(config.seed), shape),
                          checkpoint.fingerprint(json.loads(config.to_json_best_effort())), step)
  ckpt.close()
  result = gan_eval.evaluate(config, trainer, parallel.host_local(state), source, transform)
  result['step'] = step
  write_json(workdir / f'eval_step_{step}.json', result)
  return result


def main(argv):
  del argv
  try:
    result = evaluate(_WORKDIR.value, _STEP.value, _SET.value)
  except JaxstyleError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=2))


if __name__ == '__main__':
  app.run(main)
