"""Azure's own settings, read once through the service's `provider_setting` helper.

`WEBHOOK_APP_AZURE_<NAME>` in the environment, else `azure_<name>` in the config file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from webhook_app.errors import ConfigError
from webhook_app.plugins.provider import ProviderSettings

PROVIDER = "azure"
API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")


@dataclass(frozen=True)
class AzureSettings:
    speech_key: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    api_version: str = "2026-01-01"
    poll_interval: float = 10.0
    poll_max_interval: float = 300.0
    max_age: float = 48 * 3600.0

    @classmethod
    def read(cls, settings: ProviderSettings) -> AzureSettings:
        def setting(name: str, kind: str = "str") -> Any:
            return settings.provider_setting(PROVIDER, name, kind=kind, default=getattr(cls, name, None))

        api_version = str(setting("api_version")).strip()
        if not API_VERSION.fullmatch(api_version):
            raise ConfigError(
                f"WEBHOOK_APP_AZURE_API_VERSION: {api_version!r} is not an Azure api-version"
                " such as 2026-01-01"
            )
        return cls(
            speech_key=setting("speech_key"),
            endpoint=setting("endpoint"),
            allowed_hosts=tuple(setting("allowed_hosts", "list") or ()),
            api_version=api_version,
            poll_interval=float(setting("poll_interval", "duration")),
            poll_max_interval=float(setting("poll_max_interval", "duration")),
            max_age=float(setting("max_age", "duration")),
        )
