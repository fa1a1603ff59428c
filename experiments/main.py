"""Command-line entry point for jaxstyle experiments.

    python -m experiments.main --config experiments/configs/gatys.py[:variants] \
        --workdir runs/NAME [--config.key=value ...]

A user error (bad input, missing file, bad config value) is printed as one line
starting with 'error:' and exits with status 2; nothing half-written is left behind.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jaxstyle.errors import JaxstyleError

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file[:variants].',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory for outputs.')
flags.mark_flags_as_required(['config', 'workdir'])

TASKS = {'gatys': 'experiments.gatys', 'gan': 'experiments.gan',
         'fast_style': 'experiments.fast_style'}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  logging.set_verbosity(logging.WARNING)  # keep jax's backend probing off the terminal
  config = _CONFIG.value
  try:
    module = __import__(TASKS[config.task], fromlist=['run'])
    info = module.run(config, _WORKDIR.value, show_progress=sys.stderr.isatty())
  except JaxstyleError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print(f'interrupted: {getattr(module, "INTERRUPTED", "outputs so far are")} in '
          f'{_WORKDIR.value}', file=sys.stderr)
    sys.exit(130)
  print(module.summary(info, _WORKDIR.value))


if __name__ == '__main__':
  app.run(main)
