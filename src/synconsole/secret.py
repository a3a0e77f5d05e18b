"""A string that never shows itself, for every key, token and password: ``repr``, ``str`` and
formatting print a mask, and it refuses to be pickled along with whatever holds it. It imports
nothing of ours, so the Cal.com client (which may not import ``config``) and ``config`` share it."""

from __future__ import annotations


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        raise TypeError("a secret cannot be pickled")
