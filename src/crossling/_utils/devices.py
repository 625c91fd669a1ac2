"""torch devices by name: ``auto`` resolved, and a missing accelerator named in one sentence before any work."""

from __future__ import annotations

__all__ = ["AUTO", "device_problem", "resolve_device"]

AUTO = "auto"
"""The device name that means the first CUDA GPU when torch sees one, else the CPU."""


def resolve_device(device: str) -> str:
    """The torch device a name means: ``"auto"`` becomes ``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``.

    Parameters
    ----------
    device : str
        ``"auto"`` or a torch device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); returned unchanged
        unless ``"auto"``.

    Returns
    -------
    str
    """
    if device != AUTO:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_problem(device: str, *, flag: str = "--device") -> str | None:
    """Why ``device`` cannot be used here, in one sentence, or None when it can.

    Parameters
    ----------
    device : str
        A torch device name (``"auto"`` always works).
    flag : str, default "--device"
        The option the user set, named in the advice.

    Returns
    -------
    str or None
        For a name torch does not parse, a CUDA device that this torch build or machine does not have (with
        the set-up command that installs torch's CUDA build), or an Apple GPU (MPS) that is absent.
    """
    import torch

    try:
        resolved = torch.device(resolve_device(device))
    except (RuntimeError, ValueError):
        return f"device {device!r} is not a torch device; use {flag} cpu, cuda, cuda:N, mps or auto"
    if resolved.type == "cuda" and not torch.cuda.is_available():
        build = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA device"
        return (f"device {device}: torch {torch.__version__} {build}; use {flag} cpu (or auto), or install "
                "torch's CUDA build on a machine with an NVIDIA GPU (./setup.sh --cuda)")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        return f"device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); use {flag} cuda:0"
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        return f"device {device}: this machine has no Apple GPU (MPS); use {flag} cpu"
    return None
