"""Configuration is data: one typed model per command, filled from a YAML file and/or CLI flags.

Every study reads its settings the same way (:meth:`RunConfig.resolve`) and writes the resolved
configuration beside its results (:meth:`RunConfig.write`), so a result folder says what made it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict

from crossling.io import atomic_write_text

__all__ = ["RunConfig"]

C = TypeVar("C", bound="RunConfig")


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
