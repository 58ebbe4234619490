"""Settings: one frozen object built from the environment and passed down, never a global."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from incident.errors import UsageError

APP_NAME = "incident"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    busy_timeout_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = env.get("INCIDENT_HOME")
        data_dir = Path(home).expanduser() if home else Path(platformdirs.user_data_dir(APP_NAME))
        raw = env.get("INCIDENT_BUSY_TIMEOUT", "60")
        try:
            timeout = float(raw)
        except ValueError:
            timeout = -1.0
        if not 0 <= timeout <= 86_400:
            raise UsageError("INCIDENT_BUSY_TIMEOUT must be a number of seconds (0 to 86400)")
        return cls(data_dir=data_dir.absolute(), busy_timeout_s=timeout)

    @property
    def database(self) -> Path:
        return self.data_dir / "incident.db"
