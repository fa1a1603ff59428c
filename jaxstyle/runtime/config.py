"""Configs: finding, loading and overriding them -- the one parser every command uses.

A config is a Python file defining ``get_config(arg=None) -> ml_collections.ConfigDict``
(``experiments/configs/*.py``). It is named on the command line as

    NAME[:VARIANTS]       a shipped config (``gatys``, ``mixture_ring8:smoke``, ...)
    PATH.py[:VARIANTS]    any config file

and changed with ``--config.KEY=VALUE`` (or ``--config.KEY VALUE``): each value is parsed
to the type of the value it replaces, and a key the config does not have is an error.

Shipped configs and sweep files are found through the entry-point groups
``jaxstyle.configs`` and ``jaxstyle.sweeps``: each entry names a package whose folder
holds such files. jaxstyle registers ``experiments.configs`` and ``experiments.sweeps``
(pyproject.toml); a project of your own registers its folders the same way, without the
library importing it.
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import importlib.util
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

import ml_collections

from jaxstyle.errors import ConfigError

CONFIG_GROUP = 'jaxstyle.configs'
SWEEP_GROUP = 'jaxstyle.sweeps'


def split_list(text) -> tuple[str, ...]:
  """The one list syntax of configs and options: ``'a, b,,c'`` -> ``('a', 'b', 'c')``.

  A tuple or list is returned as a tuple of its items (configs may hold either).
  """
  if isinstance(text, (tuple, list)):
    return tuple(str(t) for t in text)
  return tuple(t.strip() for t in str(text or '').split(',') if t.strip())


def split_numbers(text, key: str) -> tuple[float, ...]:
  """``'0.3, 0.7'`` -> ``(0.3, 0.7)``; ConfigError naming ``key`` otherwise."""
  try:
    return tuple(float(t) for t in split_list(text))
  except ValueError:
    raise ConfigError(f'{key} must be comma-separated numbers, got {text!r}') from None


def apply_variants(config, arg: str | None, variants: Mapping[str, Callable]):
  """Applies the comma-separated ``variants`` named in ``arg``, in order.

  Raises ValueError naming the choices for an unknown one (``load`` reports it as a
  ConfigError naming the config).
  """
  for name in split_list(arg):
    if name not in variants:
      raise ValueError(f'unknown variant {name!r}; choose from {", ".join(variants)}')
    variants[name](config)
  return config


def _folders(group: str) -> list[Path]:
  """The folders registered under an entry-point group, in name order."""
  folders = []
  for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
    try:
      spec = importlib.util.find_spec(ep.value)
    except (ImportError, ValueError) as e:  # one broken registration must not break the rest
      warnings.warn(f'entry point {ep.name} = {ep.value} of {group} cannot be imported ({e}); '
                    f'skipped')
      continue
    if spec is not None and spec.submodule_search_locations:
      folders.extend(Path(p) for p in spec.submodule_search_locations)
  return folders


def shipped(group: str = CONFIG_GROUP) -> dict[str, Path]:
  """``{name: file}`` of the configs (or sweep files) registered under ``group``.

  Files whose name starts with ``_`` or ends with ``_common`` hold shared helpers.
  """
  found = {}
  for folder in _folders(group):
    for path in sorted(folder.glob('*.py')):
      if not path.stem.startswith('_') and not path.stem.endswith('_common'):
        found.setdefault(path.stem, path)
  return found


def resolve(name_or_path: str, group: str = CONFIG_GROUP) -> Path:
  """A config (sweep) name or a ``.py`` path -> the file; ConfigError naming the choices."""
  what = 'sweep' if group == SWEEP_GROUP else 'config'
  if name_or_path.endswith('.py') or '/' in name_or_path:
    path = Path(name_or_path).expanduser()
    if not path.is_file():
      raise ConfigError(f'{what} file {name_or_path} does not exist; give an existing .py file '
                        f'or the name of a shipped {what} ({", ".join(shipped(group)) or "none installed"})')
    return path
  known = shipped(group)
  if name_or_path not in known:
    close = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f' (did you mean {close[0]}?)' if close else ''
    raise ConfigError(f'unknown {what} {name_or_path!r}{hint}; choose from '
                      f'{", ".join(known) or "none: install jaxstyle (pip install .)"} '
                      f'or give a .py file')
  return known[name_or_path]


def load_module(path: Path, what: str):
  """Executes a config or sweep file as a module of its own."""
  spec = importlib.util.spec_from_file_location(f'_jaxstyle_{what}_{path.stem}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load(spec: str, group: str = CONFIG_GROUP) -> ml_collections.ConfigDict:
  """``NAME[:VARIANTS]`` or ``PATH.py[:VARIANTS]`` -> ``get_config(VARIANTS)``."""
  name, _, arg = spec.partition(':')
  path = resolve(name, group)
  module = load_module(path, 'config')
  if not hasattr(module, 'get_config'):
    raise ConfigError(f'config file {path} defines no get_config(arg=None)')
  try:
    return module.get_config(arg) if arg else module.get_config()
  except ValueError as e:
    raise ConfigError(f'config {spec}: {e}') from None


def _keys(node: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  out = []
  for k, v in node.items():
    out.extend(_keys(v, f'{prefix}{k}.') if isinstance(v, ml_collections.ConfigDict)
               else [f'{prefix}{k}'])
  return out


def _parse(text: str, old, key: str):
  """``text`` as a value of ``old``'s type."""
  if isinstance(old, bool):
    low = text.strip().lower()
    if low in ('1', 'true', 'yes', 'on'):
      return True
    if low in ('0', 'false', 'no', 'off'):
      return False
    raise ConfigError(f'--config.{key} must be true or false, got {text!r}')
  if isinstance(old, str):
    return text
  if isinstance(old, (int, float)):
    try:
      return int(text) if isinstance(old, int) else float(text)
    except ValueError:
      kind = 'an integer' if isinstance(old, int) else 'a number'
      raise ConfigError(f'--config.{key} must be {kind}, got {text!r}') from None
  try:  # tuples, lists, None: a Python literal, else the text itself (a, b -> a list)
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = split_list(text) if isinstance(old, (tuple, list)) else text
  if isinstance(old, (tuple, list)) and not isinstance(value, (tuple, list)):
    value = (value,)
  return type(old)(value) if isinstance(old, (tuple, list)) else value


def override(config: ml_collections.ConfigDict, key: str, value) -> None:
  """Sets ``config.KEY`` (dotted) to ``value``; a string is parsed to the old value's type.

  An unknown key or a value of the wrong type is a ConfigError naming the known keys.
  """
  parts = key.split('.')
  node = config
  for i, part in enumerate(parts[:-1]):
    child = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(child, ml_collections.ConfigDict):
      raise _unknown(config, key)
    node = child
  leaf = parts[-1]
  if leaf not in node:
    raise _unknown(config, key)
  old = node[leaf]
  if isinstance(old, ml_collections.ConfigDict):
    raise ConfigError(f'config key {key!r} is a group ({", ".join(old.keys())}); set one of '
                      f'its keys: --config.{key}.KEY=VALUE')
  if isinstance(value, str):
    value = _parse(value, old, key)
  try:
    node[leaf] = value
  except TypeError as e:
    raise ConfigError(f'--config.{key}={value!r}: {e}') from None


def _unknown(config, key: str) -> ConfigError:
  keys = _keys(config)
  close = difflib.get_close_matches(key, keys, n=3)
  if close:
    hint = f'did you mean {", ".join(close)}?'
  else:
    hint = (f'keys are {", ".join(keys[:12])}{", ..." if len(keys) > 12 else ""} '
            f'(--print_config lists them all)')
  return ConfigError(f'unknown config key {key!r}; {hint}')


def flatten(d, prefix=''):
  """A nested dict -> one level with dotted keys: {'train': {'lr': 1}} -> {'train.lr': 1}."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def parse_override_args(argv: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
  """Splits ``--config.KEY=VALUE`` / ``--config.KEY VALUE`` from the other arguments."""
  overrides, rest = [], []
  i = 0
  while i < len(argv):
    arg = argv[i]
    if arg.startswith('--config.'):
      body = arg[len('--config.'):]
      if '=' in body:
        key, value = body.split('=', 1)
      elif i + 1 < len(argv) and not argv[i + 1].startswith('--'):
        key, value = body, argv[i + 1]
        i += 1
      else:
        raise ConfigError(f'{arg} needs a value: {arg}=VALUE')
      overrides.append((key, value))
    else:
      rest.append(arg)
    i += 1
  return overrides, rest


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[tuple[str, str]] | Mapping[str, object]):
  """Applies ``[(key, value)]`` (or a mapping) with ``override``; returns the config."""
  items = overrides.items() if isinstance(overrides, Mapping) else overrides
  for key, value in items:
    override(config, key, value)
  return config
