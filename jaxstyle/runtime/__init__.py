"""What every run shares: configs, run directories, checkpoints, devices, the train loop.

``config``      find, load and override configs (``NAME[:VARIANTS]``, ``--config.KEY=VALUE``)
``rundir``      the run directory: config.json, run_info.json, metrics.jsonl, status
``run_info``    the reproducibility record (seed, git commit, packages, hardware, command)
``checkpoint``  Orbax checkpoints with async saves, resumption and config fingerprints
``parallel``    one per-device step run over all devices (pmap or shard_map)
``interrupt``   Ctrl-C/SIGTERM handled at the next safe point
``trainloop``   the training loop of the GAN and feed-forward tasks
"""
