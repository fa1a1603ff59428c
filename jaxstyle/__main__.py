"""``python -m jaxstyle ...``: the same as the ``jaxstyle`` command."""

from jaxstyle.cli import entry_point

entry_point()
