"""Every index gives one result for one layer; per_layer gives a list for multi-layer statistics."""

from __future__ import annotations

import numpy as np
import pytest

from crossling import Moments
from crossling.similarity import anc, cca, linear_cka, per_layer, pwcca, svcca


@pytest.mark.parametrize("index", [anc, linear_cka, cca, svcca, pwcca])
def test_an_index_refuses_several_layers_and_per_layer_gives_a_list(index):
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(2, 50, 4)), rng.normal(size=(2, 50, 4))
    layered = Moments.from_arrays(X, Y)
    with pytest.raises(TypeError, match="per_layer"):
        index(layered)
    got = per_layer(index, layered)
    assert isinstance(got, list) and len(got) == 2
    assert [r.value for r in got] == pytest.approx([index(X[i], Y[i]).value for i in range(2)], abs=1e-12)
    with pytest.raises(TypeError, match="no layer axis"):
        per_layer(index, Moments.from_arrays(X[0], Y[0]))
