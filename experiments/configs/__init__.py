"""The shipped experiment configs, one per paper setting.

Each module defines ``get_config(arg=None) -> ml_collections.ConfigDict``; ``arg`` is a
comma-separated list of variant names applied in order (see each module's docstring).
Run one with ``jaxstyle run NAME[:VARIANTS] --workdir DIR [--config.KEY=VALUE ...]``.
``gan_common`` and ``feedforward_common`` hold the defaults their families share.
"""
