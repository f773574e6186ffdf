"""Resemble's own settings, read once through the service's `provider_setting` helper.

`WEBHOOK_APP_RESEMBLE_<NAME>` in the environment, else `resemble_<name>` in the config file.
The callback tokens (`WEBHOOK_APP_RESEMBLE_TOKENS`) are the service's, as for every provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webhook_app.plugins.provider import ProviderSettings

PROVIDER = "resemble"


@dataclass(frozen=True)
class ResembleSettings:
    api_key: str | None = field(default=None, repr=False)
    api_url: str = "https://app.resemble.ai/api/v2"
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def read(cls, settings: ProviderSettings) -> ResembleSettings:
        def setting(name: str, kind: str = "str") -> Any:
            return settings.provider_setting(PROVIDER, name, kind=kind, default=getattr(cls, name, None))

        return cls(
            api_key=setting("api_key"),
            api_url=setting("api_url"),
            allowed_hosts=tuple(setting("allowed_hosts", "list") or ()),
        )
