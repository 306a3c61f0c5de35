"""Training: the trainer, optimizers and schedules, checkpoints, transfer, distributed set-up,
joint training and the LRCN feature path.

Imports are lazy (``from actionlab.train.trainer import Trainer``) so that ``actionlab.train``
itself costs nothing to import.
"""
