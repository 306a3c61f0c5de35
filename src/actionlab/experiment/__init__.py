"""Experiments that train and score: cross-validation by group and ``actionlab fit``.

They sit above the trainer and the evaluation, which they call:
:mod:`~actionlab.experiment.crossval` runs any experiment config once per fold (its scores are
summed up by :mod:`actionlab.evaluate.folds`), and :mod:`~actionlab.experiment.fit` chooses
among a search space by nested group cross-validation and trains the final model. Importing
this package loads nothing else.
"""
