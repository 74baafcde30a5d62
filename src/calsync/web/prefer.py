"""The ``Prefer`` header, as PostgREST reads it (RFC 7240).

``return=minimal|headers-only|representation`` (writes answer without a body
unless ``representation``), ``count=exact|planned|estimated`` (the total in
``Content-Range``; calsync always counts exactly), ``resolution=merge-duplicates|
ignore-duplicates`` (an upsert), ``missing=default|null`` (missing fields take
their defaults either way), ``handling=lenient|strict`` and ``max-affected=N``.
Preferences calsync does not know or cannot honour (``timezone=…``, ``tx=…``)
are ignored, unless ``handling=strict`` asks for a 400
(:class:`~calsync.errors.InvalidPreferences`, ``PGRST122``). The answer's
``Preference-Applied`` names those it honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from calsync.errors import InvalidPreferences, MaxAffectedExceeded

if TYPE_CHECKING:
    from collections.abc import Iterable

_CHOICES = {
    "return": ("minimal", "headers-only", "representation"),
    "count": ("exact", "planned", "estimated"),
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "missing": ("default", "null"),
    "handling": ("lenient", "strict"),
}
APPLIED_HEADER = "Preference-Applied"


@dataclass(frozen=True, slots=True)
class Preferences:
    """The preferences of one request (None: not given)."""

    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    max_affected: int | None = None

    @classmethod
    def parse(cls, headers: Iterable[str]) -> Preferences:
        """The ``Prefer`` headers' preferences; unknown ones refused only with handling=strict."""
        known: dict[str, str] = {}
        invalid: list[str] = []
        max_affected: int | None = None
        for header in headers:
            for item in header.split(","):
                text = item.strip()
                if not text:
                    continue
                name, _, value = text.partition("=")
                name, value = name.strip().lower(), value.strip()
                if name in _CHOICES and value in _CHOICES[name] and name not in known:
                    known[name] = value
                elif name == "max-affected" and value.isascii() and value.isdigit():
                    max_affected = int(value)
                else:
                    invalid.append(text)
        preferences = cls(
            return_=known.get("return"),
            count=known.get("count"),
            resolution=known.get("resolution"),
            missing=known.get("missing"),
            handling=known.get("handling"),
            max_affected=max_affected,
        )
        if invalid and preferences.strict:
            raise InvalidPreferences(
                "Prefer: invalid preferences given with handling=strict: " + ", ".join(invalid),
                details={"header": "Prefer", "invalid": invalid},
            )
        return preferences

    @property
    def strict(self) -> bool:
        """``handling=strict``: unknown preferences and ``max-affected`` are enforced."""
        return self.handling == "strict"

    @property
    def representation(self) -> bool:
        """Whether a write answers with the rows (``return=representation``)."""
        return self.return_ == "representation"

    def check_affected(self, affected: int) -> None:
        """Refuse (rolled back) a PATCH or DELETE of more rows than ``max-affected`` (strict)."""
        if self.strict and self.max_affected is not None and affected > self.max_affected:
            raise MaxAffectedExceeded(
                f"the request affects {affected} rows, more than Prefer: "
                f"max-affected={self.max_affected}; nothing was changed",
                details={"affected": affected, "max_affected": self.max_affected},
            )

    def applied(self, *, writing: bool, upsert: bool = False) -> str | None:
        """``Preference-Applied``: the preferences this answer honoured, or None."""
        honoured = [f"count={self.count}"] if self.count else []
        if writing:
            if self.return_:
                honoured.append(f"return={self.return_}")
            if upsert and self.resolution:
                honoured.append(f"resolution={self.resolution}")
            if self.missing:
                honoured.append(f"missing={self.missing}")
            if self.strict:
                honoured.append("handling=strict")
                if self.max_affected is not None:
                    honoured.append(f"max-affected={self.max_affected}")
        return ", ".join(honoured) or None
