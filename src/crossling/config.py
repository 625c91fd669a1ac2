"""Configuration is data: one typed model per command, filled from a YAML file and/or command-line flags.

Every command reads its settings the same way (:meth:`RunConfig.resolve`) and writes the resolved
configuration beside its results (:meth:`RunConfig.write`), so a result folder says what made it. The
command line is generated from these models (:mod:`crossling.cli`): each option is declared once, as a
field with its entry in the class's numpydoc ``Attributes`` section, which is also its ``--help`` text.

What several commands share is declared here once: the parsers of comma-separated values
(:data:`LayerList`, :data:`CommaList`, :func:`resolve_layers`), how a model is loaded (:class:`ModelOptions`),
which corpus is read (:class:`CorpusOptions`), how its vectors are stored (:class:`StoreOptions`) and where its
work runs (:class:`EngineOptions`).
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Optional, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from crossling._utils.io import atomic_write_text
from crossling._utils.paths import default_store_dir
from crossling.exceptions import ConfigError

if TYPE_CHECKING:
    from crossling.engine import Engine
    from crossling.models import LoadedModel

__all__ = [
    "CommaList",
    "CorpusOptions",
    "EngineOptions",
    "LayerList",
    "ModelOptions",
    "RunConfig",
    "StoreOptions",
    "parse_layers",
    "resolve_layers",
    "split_commas",
]

C = TypeVar("C", bound="RunConfig")
M = TypeVar("M", bound=BaseModel)


def split_commas(value: Any) -> Any:
    """Split ``"en, de"`` into ``["en", "de"]``; blank items are dropped, anything but a string passes as is.

    The parser behind :data:`CommaList`: a flag gives a string, a YAML file a string or a list.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
        A list of str for a string, else ``value`` unchanged.
    """
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def parse_layers(value: Any) -> Any:
    """Read a layer selection: ``None`` or ``"all"`` -> None (every hidden state), ``"0,3, 12"`` -> [0, 3, 12].

    Blank items are dropped (``"1,,2"`` -> [1, 2]); anything but a string passes as is (a YAML list is
    checked by the field's type).

    Parameters
    ----------
    value : object

    Returns
    -------
    list of int, None, or ``value`` unchanged

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

    Returns
    -------
    list of int
        Non-negative hidden-state indices.

    Raises
    ------
    ConfigError
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
        raise ConfigError(f"{what} {absent} out of range: the hidden states available are {span}")
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"{what} {list(layers)} select a hidden state twice")
    return resolved


LayerList = Annotated[Optional[list[int]], BeforeValidator(parse_layers)]
"""Hidden-state indices (0 = embedding output); None means all. Accepts ``"all"``, ``"0,3,12"`` or a list."""

CommaList = Annotated[list[str], BeforeValidator(split_commas)]
"""Names (language codes, indices, ...) from ``"en,de"`` or a list."""

#: Field metadata for a string that names a local folder or a hub id (rebased on a YAML file's folder when
#: the folder exists there).
MODEL_PATH = {"path": "model"}
#: Field metadata for a corpus spec ``scheme:location`` (the location is rebased on a YAML file's folder).
CORPUS_SPEC = {"path": "corpus"}


def _contains_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    return any(_contains_path(arg) for arg in typing.get_args(annotation))


def _rebase(value: Any, base: Path, kind: str) -> Any:
    """A relative path in a YAML file, made relative to the file's folder (see :meth:`RunConfig.resolve`)."""
    if isinstance(value, dict):
        return {key: _rebase(item, base, kind) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebase(item, base, kind) for item in value]
    if not isinstance(value, str) or not value:
        return value
    if kind == "corpus":
        scheme, sep, location = value.partition(":")
        return f"{scheme}:{_rebase(location, base, 'path')}" if sep and location else value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    if kind == "model" and not (base / path).exists():
        return value  # a hub id such as "intfloat/multilingual-e5-small"
    return str(base / path)


class RunConfig(BaseModel):
    """Base class of every command's configuration.

    Unknown keys are an error (a typo in a YAML file must not be silently ignored). Fields whose help
    should stay off the command line carry ``json_schema_extra={"cli": False}``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    cli_panel: ClassVar[str] = "Options"

    @classmethod
    def resolve(cls: type[C], config_file: str | Path | None = None, **overrides: Any) -> C:
        """Build the configuration from a YAML file, then apply the flags the user gave.

        Relative paths in the YAML file are read against the file's folder (so a configuration travels with
        the data beside it): every ``Path`` option, the location of a corpus spec (``pud:data/pud``), and a
        model name that exists as a folder there. Flags are taken as given (relative to the working
        directory).

        Parameters
        ----------
        config_file : path, optional
            YAML mapping with the same keys as the model's fields.
        **overrides
            Values from the command line; ``None`` means "not given" and leaves the file's value (or the
            default) in place.

        Returns
        -------
        RunConfig
            An instance of the class it is called on.

        Raises
        ------
        ConfigError
            When the file does not exist or is not a YAML mapping.
        pydantic.ValidationError
            When a value does not fit its option.
        """
        data: dict[str, Any] = {}
        if config_file is not None:
            path = Path(config_file)
            if not path.is_file():
                raise ConfigError(f"--config {path}: no such file")
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as error:
                raise ConfigError(f"--config {path}: not valid YAML ({error})".replace("\n", " ")) from None
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{config_file}: expected a YAML mapping of option names to values")
            base = path.resolve().parent
            for name, value in loaded.items():
                field = cls.model_fields.get(name)
                if field is None:
                    continue  # validation names the unknown key
                extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
                kind = extra.get("path") or ("path" if _contains_path(field.annotation) else None)
                loaded[name] = _rebase(value, base, kind) if kind else value
            data.update(loaded)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)

    def subset(self, model: type[M]) -> M:
        """The fields of ``model`` taken from this configuration: a study's options inside its run config.

        Parameters
        ----------
        model : type
            A pydantic model whose fields this configuration has (``IndexOptions``, ``ConceptOptions`` ...).

        Returns
        -------
        object
            An instance of ``model``.
        """
        return model(**self.model_dump(include=set(model.model_fields)))

    def write(self, out_dir: str | Path, name: str = "config.yaml") -> Path:
        """Write the resolved configuration as YAML into ``out_dir`` (atomically).

        Parameters
        ----------
        out_dir : path
        name : str, default "config.yaml"

        Returns
        -------
        Path
        """
        path = Path(out_dir) / name
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
        return atomic_write_text(path, text)


class ModelOptions(RunConfig):
    """How a command loads its model(s) and runs them: the settings every extracting command shares.

    Attributes
    ----------
    batch_size : int, default 32
        Sentences per forward pass.
    max_length : int, optional
        Truncate inputs to this many tokens (at least 2); default: the model's limit.
    device : str, default "cpu"
        torch device, e.g. ``cuda`` or ``cuda:1``, or ``auto`` (the first CUDA GPU when torch sees one, else the
        CPU). A device this machine or torch build lacks is a one-line error saying what to use or install.
    dtype : str, optional
        Weight dtype (``float32``, ``bfloat16``, ``float16``); default: the checkpoint's.
    revision : str, optional
        Hub branch, tag or commit of the model.
    trust_remote_code : bool, default False
        Run code shipped with the model (only for models you trust).
    """

    cli_panel: ClassVar[str] = "Model"

    batch_size: int = Field(default=32, ge=1)
    max_length: Optional[int] = Field(default=None, ge=2)
    device: str = "cpu"
    dtype: Optional[Literal["float32", "float16", "bfloat16"]] = None
    revision: Optional[str] = None
    trust_remote_code: bool = False

    def load_model(self, name_or_path: str | Path, **overrides: Any) -> LoadedModel:
        """:func:`crossling.models.load_model` with these settings (``overrides`` replace some of them).

        Parameters
        ----------
        name_or_path : str or path
        **overrides
            ``revision``, ``device``, ``dtype`` or ``trust_remote_code`` for this model only.

        Returns
        -------
        LoadedModel
        """
        from crossling.models import load_model

        settings = dict(revision=self.revision, device=self.device, dtype=self.dtype,
                        trust_remote_code=self.trust_remote_code)
        return load_model(name_or_path, **{**settings, **overrides})


class CorpusOptions(RunConfig):
    """Which corpus a command reads.

    Attributes
    ----------
    corpus : str
        ``pud:DIR`` (Parallel UD), ``ud:PATH`` (CoNLL-U file or treebank folder), ``text:PATH`` (one segment
        per line; a folder of ``LANG.txt`` files is parallel), ``tsv:FILE`` (a column per language),
        ``xnli:DIR`` (one XNLI-style TSV per language: the hypotheses; ``xnli:DIR#premise`` another column)
        or ``lohelp:`` (LibreOffice Help from Debian's packages).
    languages : list of str, optional
        Comma-separated language codes; default every language of the corpus.
    split : {"all", "train", "dev", "test"}, default "all"
        Which files of a UD treebank folder to read.
    limit : int, optional
        Only the first N sentences of each language (parallel corpora stay aligned).
    lenient : bool, default False
        Read files that break their format where the fault can be repaired without a guess (whitespace around
        a CoNLL-U column, text not in Unicode NFC, unsorted FEATS, a stray byte-order mark), counting the
        repairs in a warning per file; by default every such fault is an error naming the file and line.
    """

    cli_panel: ClassVar[str] = "Corpus"

    corpus: str = Field(json_schema_extra=CORPUS_SPEC)
    languages: Optional[CommaList] = None
    split: Literal["all", "train", "dev", "test"] = "all"
    limit: Optional[int] = Field(default=None, ge=1)
    lenient: bool = False


class StoreOptions(RunConfig):
    """Where extracted vectors are cached.

    Attributes
    ----------
    store_dir : path, optional
        Folder of the vector stores; default ``$CROSSLING_HOME/stores``, shared by every run, so a new
        ``--out`` reuses what was extracted before.
    shard_size : int, default 256
        Sentences per store shard, the unit an interrupted extraction resumes from.
    """

    cli_panel: ClassVar[str] = "Vector stores"

    store_dir: Optional[Path] = None
    shard_size: int = Field(default=256, ge=1)

    def stores_root(self) -> Path:
        """The folder the stores go to: ``store_dir``, or :func:`crossling._utils.paths.default_store_dir`.

        Returns
        -------
        Path
        """
        return Path(self.store_dir) if self.store_dir is not None else default_store_dir()


class EngineOptions(RunConfig):
    """Where a command's work runs: in this process, or on a Ray cluster; the results are the same.

    Attributes
    ----------
    engine : {"local", "ray"}, default "local"
        ``local`` runs everything in this process; ``ray`` hands the work to a Ray cluster (``pip install
        'crossling[ray]'``): extraction to a pool of model actors, and the studies' independent units to tasks
        (similarity: a layer and pair; concepts: a clustering, a joint clustering with its COLAP, a CALIGN
        direction; factorization: a category and layer; pre-training: a model), each retried when its worker
        dies; the tables are those of a local run. Folders (``--out``, ``--store-dir``) and models must then be
        on paths every node reads (the stores: and the driver writes).
    ray_address : str, optional
        The cluster's head, ``HOST:PORT`` as ``ray start --head`` prints it, ``auto`` (the cluster of this
        machine) or ``ray://HOST:10001`` (Ray Client, needs ``ray[client]``); default the ``RAY_ADDRESS``
        environment variable, else a Ray instance started on this machine for the run.
    actors : int, optional
        Model actors for extraction (one model load each); default, and at most, as many as the cluster has room
        for: its GPUs divided by ``gpus_per_actor`` on ``--device cuda``, else its CPUs divided by
        ``cpus_per_task``.
    cpus_per_task : int, default 1
        CPU cores each Ray task or actor reserves, and its torch and BLAS threads (pre-training reserves
        ``threads`` per model, concept clustering ``threads`` per clustering, instead). Results equal a local
        run's bit for bit when both use as many threads: torch and BLAS split their sums by thread count, which
        moves results in the last bit.
    gpus_per_actor : float, default 1.0
        GPUs each model actor reserves on ``--device cuda`` (0.5: two actors share a GPU).
    max_retries : int, default 3
        Times a task, or a model actor, whose worker process died (killed, out of memory, node lost) is run
        again; an error a task raises itself is not retried.
    """

    cli_panel: ClassVar[str] = "Engine"

    engine: Literal["local", "ray"] = "local"
    ray_address: Optional[str] = None
    actors: Optional[int] = Field(default=None, ge=1)
    cpus_per_task: int = Field(default=1, ge=1)
    gpus_per_actor: float = Field(default=1.0, gt=0.0)
    max_retries: int = Field(default=3, ge=0)

    def open_engine(self) -> Engine:
        """:func:`crossling.engine.open_engine` with these settings.

        Returns
        -------
        Engine
            Use it as a context manager, so a Ray connection it made is closed.
        """
        from crossling.engine import open_engine

        return open_engine(self)
