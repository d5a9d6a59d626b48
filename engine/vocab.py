"""The A2V vocabulary: 10 body parts, 93 part states (PaSta) in 6 groups, 157 actions.

Read from ``assets/vocab/a2v_vocab.yaml``. Index order is the model's output order:
PaSta 0-15 foot, 16-30 leg, 31-36 hip, 37-70 hand, 71-78 arm, 79-92 head (the last state of each group is
``no_interaction``); action 57 is ``no_interaction``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from engine.paths import VOCAB_PATH

NO_INTERACTION = "no_interaction"


@dataclass(frozen=True)
class Vocabulary:
    """Names and index layout.

    - ``parts``: 10 part names; ``part_group[i]`` is the group index of part i.
    - ``groups``: 6 group names (foot, leg, hip, hand, arm, head).
    - ``group_parts[g]``: part indices that feed group g, in the model's concatenation order
      (the official ``PART_AGG_RULE`` ``[[0, 3], [1, 2], [4], [6, 9], [7, 8], [5]]``).
    - ``pasta``: 93 state names; ``pasta_group[k]`` the group index of state k;
      ``group_slices[g]`` the slice of the 93 that belongs to group g.
    - ``actions``: 157 action names.
    """

    parts: tuple[str, ...]
    part_group: tuple[int, ...]
    groups: tuple[str, ...]
    group_parts: tuple[tuple[int, ...], ...]
    pasta: tuple[str, ...]
    pasta_group: tuple[int, ...]
    group_slices: tuple[slice, ...]
    actions: tuple[str, ...]

    @property
    def group_sizes(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.group_slices)

    @property
    def pasta_no_interaction(self) -> tuple[int, ...]:
        """Global PaSta indices of each group's no_interaction state: (15, 30, 36, 70, 78, 92)."""
        return tuple(s.stop - 1 for s in self.group_slices)

    @property
    def action_no_interaction(self) -> int:
        return self.actions.index(NO_INTERACTION)

    def pasta_label(self, index: int) -> str:
        """``"<group>: <state>"``, e.g. ``"hand: hold"``."""
        return f"{self.groups[self.pasta_group[index]]}: {self.pasta[index]}"

    def fingerprint(self) -> str:
        """A short hash of the names, used to key caches built from the vocabulary."""
        import hashlib

        text = "\n".join(self.parts + self.groups + self.pasta + self.actions)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class VocabularyError(ValueError):
    pass


def _parse(data: dict, source: str) -> Vocabulary:
    try:
        parts = tuple(str(p["name"]) for p in data["parts"])
        part_group_names = [str(p["group"]) for p in data["parts"]]
        groups = tuple(str(g["name"]) for g in data["groups"])
        group_parts = tuple(tuple(parts.index(n) for n in g["parts"]) for g in data["groups"])
        pasta: list[str] = []
        pasta_group: list[int] = []
        slices: list[slice] = []
        for gi, g in enumerate(data["groups"]):
            start = len(pasta)
            states = [str(s) for s in g["states"]]
            if not states or states[-1] != NO_INTERACTION:
                raise VocabularyError(f"{source}: group {g['name']!r} must end with {NO_INTERACTION!r}")
            pasta += states
            pasta_group += [gi] * len(states)
            slices.append(slice(start, len(pasta)))
        actions = tuple(str(a) for a in data["actions"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, VocabularyError):
            raise
        raise VocabularyError(f"{source}: malformed vocabulary ({exc}); restore it from the project") from None
    part_group = tuple(groups.index(n) for n in part_group_names)
    if NO_INTERACTION not in actions:
        raise VocabularyError(f"{source}: actions must contain {NO_INTERACTION!r}")
    return Vocabulary(parts, part_group, groups, group_parts, tuple(pasta), tuple(pasta_group),
                      tuple(slices), actions)


@lru_cache(maxsize=4)
def load_vocab(path: str | Path = VOCAB_PATH) -> Vocabulary:
    """Load and check a vocabulary file (default: the project's)."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return _parse(data, str(path))
