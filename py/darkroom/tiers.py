"""Device tiers (lite / standard / pro) and the reasons a tier was chosen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    name: str
    reasons: tuple[str, ...] = ()


# Until the device probe lands, every host runs the standard tier and says so.
DEFAULT = Tier("standard", ("Device probing is not enabled yet; the standard tier is the default.",))
