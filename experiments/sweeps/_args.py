"""``key=value,key=value`` arguments of sweep files (``jaxstyle sweep run NAME:ARG``)."""

from jaxstyle.runtime.config import split_list


def parse(arg: str | None, defaults: dict) -> dict:
  """Overrides ``defaults`` (whose values fix each option's type); raises ValueError."""
  out = dict(defaults)
  for item in split_list(arg):
    key, sep, value = item.partition('=')
    key = key.strip()
    if not sep or key not in defaults:
      raise ValueError(f'unknown sweep option {item!r}; options are '
                       f'{", ".join(f"{k}={v}" for k, v in defaults.items())}')
    kind = type(defaults[key])
    try:
      out[key] = kind(value) if kind is not bool else value.lower() in ('1', 'true', 'yes')
    except ValueError:
      raise ValueError(f'sweep option {key} must be a {kind.__name__}, got {value!r}') from None
  return out
