"""Configuration is data: one typed model per command, filled from a YAML file and/or CLI flags.

Every study reads its settings the same way (:meth:`RunConfig.resolve`) and writes the resolved
configuration beside its results (:meth:`RunConfig.write`), so a result folder says what made it.
What several commands share is declared here once: the parsers of the comma-separated options
(:data:`LayerList`, :data:`CommaList`), the model and extraction settings (:class:`ModelOptions`) and the
command-line flags of those options (``*Flag``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crossling._utils.io import atomic_write_text

if TYPE_CHECKING:
    from crossling.models import LoadedModel

__all__ = [
    "BatchSizeFlag",
    "CommaList",
    "ConfigFlag",
    "DeviceFlag",
    "LanguagesFlag",
    "LayerList",
    "LayersFlag",
    "LimitFlag",
    "MaxLengthFlag",
    "ModelFlag",
    "ModelOptions",
    "OutFlag",
    "ParallelCorpusFlag",
    "PrefixFlag",
    "RunConfig",
    "StoreDirFlag",
    "parse_layers",
    "resolve_layers",
    "split_commas",
]

C = TypeVar("C", bound="RunConfig")


def split_commas(value: Any) -> Any:
    """Split ``"en, de"`` into ``["en", "de"]``; blank items are dropped, anything but a string passes as is.

    The parser behind :data:`CommaList`: a flag gives a string, a YAML file a string or a list.
    """
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def parse_layers(value: Any) -> Any:
    """Read a layer selection: ``None`` or ``"all"`` -> None (every hidden state), ``"0,3, 12"`` -> [0, 3, 12].

    Blank items are dropped (``"1,,2"`` -> [1, 2]); anything but a string passes as is (a YAML list is
    checked by the field's type).

    Raises
    ------
    ValueError
        For a string that is not ``"all"`` and not a non-empty list of integers.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        try:
            layers = [int(item) for item in items]
        except ValueError:
            layers = []
        if not layers:
            raise ValueError(f"layers must be 'all' or comma-separated integers, got {value!r}")
        return layers
    return value


def resolve_layers(layers: Sequence[int] | None, available: Sequence[int], *, what: str = "layers") -> list[int]:
    """Turn a layer selection into indices of hidden states that exist, in the order given.

    Parameters
    ----------
    layers : sequence of int or None
        The selection; None means every available layer. A negative index counts from the end
        (-1 is the last hidden state, ``max(available)``).
    available : sequence of int
        The hidden states there are (``range(n_hidden_states)`` for a model, the stored layers for a
        vector store), ascending.
    what : str, default "layers"
        The option's name, for the error message.

    Raises
    ------
    ValueError
        When a layer is not available or a layer is selected twice.
    """
    available = list(available)
    if layers is None:
        return available
    total = available[-1] + 1 if available else 0
    resolved = [layer + total if layer < 0 else layer for layer in layers]
    absent = [layer for layer, index in zip(layers, resolved) if index not in available]
    if absent:
        span = f"{available[0]}..{available[-1]}" if available else "none"
        raise ValueError(f"{what} {absent} out of range: the hidden states available are {span}")
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{what} {list(layers)} select a hidden state twice")
    return resolved


LayerList = Annotated[Optional[list[int]], BeforeValidator(parse_layers)]
"""Hidden-state indices (0 = embedding output); None means all. Accepts ``"all"``, ``"0,3,12"`` or a list."""

CommaList = Annotated[list[str], BeforeValidator(split_commas)]
"""Names (language codes, indices, ...) from ``"en,de"`` or a list."""


class RunConfig(BaseModel):
    """Base class of every command's configuration.

    Unknown keys are an error (a typo in a YAML file must not be silently ignored).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def resolve(cls: type[C], config_file: str | Path | None = None, **overrides: Any) -> C:
        """Build the configuration from a YAML file, then apply the flags the user gave.

        Parameters
        ----------
        config_file : path, optional
            YAML mapping with the same keys as the model's fields.
        **overrides
            Values from the command line; ``None`` means "not given" and leaves the file's value (or the
            default) in place.
        """
        data: dict[str, Any] = {}
        if config_file is not None:
            loaded = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{config_file}: expected a YAML mapping of option names to values")
            data.update(loaded)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)

    def write(self, out_dir: str | Path, name: str = "config.yaml") -> Path:
        """Write the resolved configuration as YAML into ``out_dir`` (atomically)."""
        path = Path(out_dir) / name
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
        return atomic_write_text(path, text)


class ModelOptions(RunConfig):
    """How a study loads its model(s) and runs them: the settings every extracting command shares.

    Attributes
    ----------
    batch_size : int, default 32
        Sentences per forward pass.
    max_length : int, optional
        Truncate inputs to this many tokens (at least 2); default: the model's limit.
    device : str, default "cpu"
        torch device, e.g. ``"cuda"``.
    dtype : str, optional
        Weight dtype (``"float32"``, ``"bfloat16"``); default: the checkpoint's.
    revision : str, optional
        Hub branch, tag or commit of the model.
    trust_remote_code : bool, default False
        Run code shipped with the model.
    """

    batch_size: int = Field(default=32, ge=1)
    max_length: Optional[int] = Field(default=None, ge=2)
    device: str = "cpu"
    dtype: Optional[str] = None
    revision: Optional[str] = None
    trust_remote_code: bool = False

    def load_model(self, name_or_path: str | Path, **overrides: Any) -> LoadedModel:
        """:func:`crossling.models.load_model` with these settings (``overrides`` replace some of them)."""
        from crossling.models import load_model

        settings = dict(revision=self.revision, device=self.device, dtype=self.dtype,
                        trust_remote_code=self.trust_remote_code)
        return load_model(name_or_path, **{**settings, **overrides})


# Command-line flags of the options several commands share. A flag left out is None, so the YAML file's
# value (or the field's default) stands (:meth:`RunConfig.resolve`).
ModelFlag = Annotated[Optional[str], typer.Option(help="Hugging Face model folder or hub id.")]
ParallelCorpusFlag = Annotated[Optional[str], typer.Option(
    help="Parallel corpus: pud:DIR, or text:DIR with aligned <lang>.txt files.")]
LanguagesFlag = Annotated[Optional[str], typer.Option(help="Comma-separated language codes; default all in the corpus.")]
LayersFlag = Annotated[Optional[str], typer.Option(
    help="'all' or comma-separated hidden-state indices (0 = embeddings).")]
PrefixFlag = Annotated[Optional[str], typer.Option(help="Text put before every sentence (E5 models: 'passage: ').")]
LimitFlag = Annotated[Optional[int], typer.Option(help="Only the first N sentences of each language.")]
BatchSizeFlag = Annotated[Optional[int], typer.Option(help="Sentences per forward pass [32].")]
MaxLengthFlag = Annotated[Optional[int], typer.Option(
    help="Truncate inputs to this many tokens (default: the model's limit).")]
DeviceFlag = Annotated[Optional[str], typer.Option(help="torch device, e.g. cpu or cuda.")]
StoreDirFlag = Annotated[Optional[Path], typer.Option(help="Shared folder of vector stores (default OUT/stores).")]
OutFlag = Annotated[Optional[Path], typer.Option(help="Folder for the tables, figures, manifest and report section.")]
ConfigFlag = Annotated[Optional[Path], typer.Option(help="YAML file with any of these options; flags override it.")]
