"""User-facing error types.

Each kind of user mistake gets its own exception type whose message says what was
wrong and how to fix it. Entry points print ``str(err)`` as one line and exit
non-zero; library callers can catch the specific type.
"""


class JaxstyleError(Exception):
  """Base class for errors caused by user input rather than by a bug."""


class ConfigError(JaxstyleError, ValueError):
  """A configuration value is invalid (unknown layer, negative weight, ...)."""


class ImageError(JaxstyleError):
  """An input image is missing, unreadable, corrupt, or unsuitable."""


class WeightsError(JaxstyleError):
  """A weight file is missing, has the wrong checksum, or the wrong layout."""


class DownloadError(JaxstyleError):
  """A file could not be fetched (offline, interrupted, checksum mismatch)."""


class OutputError(JaxstyleError):
  """The output directory cannot be created or written."""


class NonFiniteLossError(JaxstyleError):
  """The objective became NaN or Inf during optimisation."""

  def __init__(self, message: str, step: int):
    super().__init__(message)
    self.step = step
