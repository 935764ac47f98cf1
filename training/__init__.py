"""Training, evaluation, the baseline and the experiments (needs ``clausetag[train]``)."""
