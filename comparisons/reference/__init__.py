"""Published rodent (and primate) reference values, as small versioned YAML tables.

Every entry has: id, quantity, value (a number, a category, or ``computed`` for statistics computed
from real data shipped in a package), optional range [low, high] (``null`` = open), units, species,
strain, task, the benchmarks it supports, a citation key into ``citations.yaml`` and
``value_checked`` (whether the number itself was read from the source; the citations say what was).

`entries()` -> every entry; `entry(id)`; `citation(key)`; `cite(id)` -> a one-line citation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REQUIRED = ("id", "quantity", "value", "units", "species", "strain", "task", "supports", "citation", "value_checked")


@lru_cache(maxsize=1)
def citations() -> dict[str, dict]:
    with open(HERE / "citations.yaml") as f:
        return yaml.safe_load(f)


@lru_cache(maxsize=1)
def _table() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for path in sorted(HERE.glob("*.yaml")):
        if path.name == "citations.yaml":
            continue
        with open(path) as f:
            for e in yaml.safe_load(f):
                missing = [k for k in REQUIRED if k not in e]
                if missing:
                    raise ValueError(f"{path.name}: entry {e.get('id', '?')!r} lacks {', '.join(missing)}")
                if e["citation"] not in citations():
                    raise ValueError(f"{path.name}: entry {e['id']!r} cites unknown source {e['citation']!r}")
                if e["id"] in out:
                    raise ValueError(f"{path.name}: duplicate reference id {e['id']!r}")
                out[e["id"]] = {**e, "table": path.name}
    return out


def entries() -> list[dict]:
    return list(_table().values())


def entry(ref_id: str) -> dict:
    table = _table()
    if ref_id not in table:
        raise KeyError(f"unknown reference {ref_id!r}; valid: {', '.join(sorted(table))}")
    return table[ref_id]


def citation(key: str) -> dict:
    return citations()[key]


def cite(ref_id: str) -> str:
    """'Kawai et al. 2015, Neuron 86(3):800-812, doi:10.1016/...' for an entry."""
    c = citation(entry(ref_id)["citation"])
    names = [a.strip().split()[0] for a in c["authors"].split(",")]
    lead = names[0] if len(names) == 1 else " & ".join(names) if len(names) == 2 else f"{names[0]} et al."
    ident = f"doi:{c['doi']}" if c.get("doi") else f"PMID {c['pmid']}" if c.get("pmid") else c["pmcid"]
    return f"{lead} {c['year']}, {c['journal']}, {ident}"


def value_range(ref_id: str) -> tuple[float, float]:
    """(low, high) of an entry's range, open ends as -inf / +inf."""
    lo, hi = entry(ref_id).get("range", [None, None])
    return (-float("inf") if lo is None else float(lo), float("inf") if hi is None else float(hi))
