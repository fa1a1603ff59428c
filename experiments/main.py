"""``python -m experiments.main --config CONFIG[:VARIANTS] --workdir DIR [--config.KEY=VALUE ...]``

The checkout's entry point, kept for scripts written against it: the same as
``jaxstyle run CONFIG[:VARIANTS] --workdir DIR ...`` (``jaxstyle.cli``), where CONFIG may
also be a file path such as ``experiments/configs/gatys.py``.
"""

from __future__ import annotations

import sys

from jaxstyle import cli


def translate(argv: list[str]) -> list[str]:
  """``--config X`` / ``--config=X`` becomes ``run``'s positional CONFIG argument."""
  out, config = [], None
  i = 0
  while i < len(argv):
    arg = argv[i]
    if arg == '--config' and i + 1 < len(argv):
      config, i = argv[i + 1], i + 2
      continue
    if arg.startswith('--config='):
      config = arg.split('=', 1)[1]
    else:
      out.append(arg)
    i += 1
  return ['run'] + ([config] if config is not None else []) + out


if __name__ == '__main__':
  sys.exit(cli.main(translate(sys.argv[1:])))
