"""jacob_cov (Mellor et al. 2021, the zero-cost-nas form): J = d(sum of logits)/dx per sample;
with lambda the eigenvalues of the correlation matrix of the rows of J,
score = -sum(log(lambda + 1e-5) + 1/(lambda + 1e-5)). Uses a second backward of the
cross-entropy pass's graph, so it costs no extra forward."""
from __future__ import annotations

import numpy as np

from .ce_pass import CEState
from .gradient import ce_key
from .registry import Proxy, Reduction, register
from .target import Target

K = 1e-5


def jacob_cov(state: CEState, target: Target, opts) -> Reduction:
    jac = state.jacobian.cpu().numpy()
    if jac.shape[0] < 2:
        raise ValueError("jacob_cov needs at least two samples")
    lam = np.linalg.eigvalsh(np.corrcoef(jac))
    return None, float(-np.sum(np.log(lam + K) + 1.0 / (lam + K)))


register(Proxy("jacob_cov", lambda o: (ce_key(o), frozenset({"jacobian"})), jacob_cov, {"precision": None}, data="pixels",
               doc="jacob_cov: spectrum of the correlation of input Jacobians (Mellor et al. 2021)"))
