"""PARAFAC2 in float32 and on torch: the same fits as numpy in float64, and a missing device named in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crossling.exceptions import ConfigError
from crossling.factorization.parafac2 import parafac2, random_parafac2

torch = pytest.importorskip("torch")

# Uneven slice heights (so torch batches several groups) and every kind of update.
PLANTED = random_parafac2([10, 12, 15, 9, 11, 14, 12], 13, 4, noise=0.05, seed=3)
OPTIONS = [
    dict(),
    dict(nonnegative=False),
    dict(orthonormal_v=True),
    dict(ridge=1e-3),
    dict(normalize_slices=True, acceleration="none"),
    dict(acceleration="linesearch"),
]


@pytest.mark.parametrize("options", OPTIONS,
                         ids=["nonnegative", "free", "orthonormal_v", "ridge", "normalized", "linesearch"])
def test_torch_float64_on_the_cpu_is_numpy(options):
    numpy_fit = parafac2(PLANTED.matrices, 4, tol=1e-10, n_iter_max=200, **options)
    torch_fit = parafac2(PLANTED.matrices, 4, tol=1e-10, n_iter_max=200, backend="torch", device="cpu", **options)
    assert (torch_fit.backend, torch_fit.device, torch_fit.dtype) == ("torch", "cpu", "float64")
    assert torch_fit.n_iter == numpy_fit.n_iter
    np.testing.assert_allclose(torch_fit.errors, numpy_fit.errors, rtol=0, atol=1e-10)
    np.testing.assert_allclose(torch_fit.S, numpy_fit.S, rtol=0, atol=1e-10)
    np.testing.assert_allclose(torch_fit.V, numpy_fit.V, rtol=0, atol=1e-10)
    for u_torch, u_numpy in zip(torch_fit.U, numpy_fit.U):
        np.testing.assert_allclose(u_torch, u_numpy, rtol=0, atol=1e-10)
    assert "torch" in torch_fit.versions and "torch" not in numpy_fit.versions


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_fits_as_well_as_float64(backend):
    # The fit runs in float32 until float32 no longer resolves the changes of its error, then in float64; the
    # factors, errors and the final projection are float64. In float32 alone a tol this small stopped at random
    # (here after 2000 iterations instead of 96, by the budget).
    reference = parafac2(PLANTED.matrices, 4, tol=1e-8, n_iter_max=300)
    fit = parafac2(PLANTED.matrices, 4, tol=1e-8, n_iter_max=300, backend=backend, dtype="float32")
    assert fit.dtype == "float32" and fit.S.dtype == fit.V.dtype == fit.U[0].dtype == np.float64
    assert fit.converged and abs(fit.n_iter - reference.n_iter) <= 2
    assert abs(fit.relative_error - reference.relative_error) < 1e-9
    np.testing.assert_allclose(fit.S, reference.S, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.V, reference.V, rtol=0, atol=1e-4)
    assert fit.iteration_seconds.shape == fit.errors.shape and (fit.iteration_seconds > 0).all()


def test_devices_and_dtypes_are_checked_before_any_work():
    with pytest.raises(ValueError, match="backend='torch'"):
        parafac2(PLANTED.matrices, 4, device="cuda")
    with pytest.raises(ValueError, match="float64 or float32"):
        parafac2(PLANTED.matrices, 4, dtype="float16")
    with pytest.raises(ValueError, match="'numpy' or 'torch'"):
        parafac2(PLANTED.matrices, 4, backend="jax")
    with pytest.raises(ConfigError, match="not a torch device"):
        parafac2(PLANTED.matrices, 4, backend="torch", device="gpu0")
    auto = parafac2(PLANTED.matrices, 4, n_iter_max=3, tol=0, backend="torch", device="auto").device
    assert auto.startswith("cuda") if torch.cuda.is_available() else auto == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_a_missing_gpu_is_one_line_saying_what_to_do():
    with pytest.raises(ConfigError) as caught:
        parafac2(PLANTED.matrices, 4, backend="torch", device="cuda")
    message = str(caught.value)
    assert "\n" not in message
    assert "device cpu" in message and "./setup.sh --cuda" in message


def test_the_gpu_benchmark_prints_its_plan_without_a_gpu():
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    script = str(root / "benchmarks" / "gpu.py")
    dry = subprocess.run([sys.executable, script, "--dry", "--device", "cuda:3"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == "benchmarks/gpu.py would run 5 steps:"
    assert ["torch float64 on cuda:3" in lines[2], "torch float32 on cuda:3" in lines[3]] == [True, True]
    assert "bfloat16" in lines[5] and "1000 English PUD sentences" in lines[5]
    if not torch.cuda.is_available():
        real = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=120)
        assert real.returncode == 1 and real.stdout == ""
        assert real.stderr.count("\n") == 1 and "nothing timed" in real.stderr and "./setup.sh --cuda" in real.stderr


def test_the_study_fits_where_and_in_the_precision_asked():
    from pydantic import ValidationError

    from crossling.factorization.signatures import fit_signatures
    from crossling.factorization.study import FactorizationOptions

    assert FactorizationOptions().backend_options() == {"backend": "numpy", "device": None, "dtype": "float64"}
    options = FactorizationOptions(fit_device="cpu", fit_dtype="float32", n_starts=1)
    fit = fit_signatures(dict(zip("abcdefg", PLANTED.matrices)), rank=4, **options.fit_options(),
                         **options.backend_options())
    assert (fit.backend, fit.device, fit.dtype) == ("torch", "cpu", "float32")
    with pytest.raises(ValidationError, match="not a torch device"):
        FactorizationOptions(fit_device="gpu0")
