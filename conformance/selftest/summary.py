"""The selftest's numbers: kill rate against the profile's goal, kills per clause, per operator and
per block, survivors and equivalents (``report.py`` prints them as text and Markdown)."""

from __future__ import annotations

from typing import Iterable

from .mutator import OPERATORS

GOALS = {"ci": 0.98, "thorough": 1.0}


def summarize(records: list, generated: int, profile: str, mode: str, subset_run: bool, complete: bool,
              timings: dict[str, float]) -> dict:
    from ..clauses import CLAUSES

    killed = [r for r in records if r.status == "killed"]
    equivalent = [r for r in records if r.status == "equivalent"]
    judged = len(records) - len(equivalent)
    rate = len(killed) / judged if judged else 1.0
    per_clause: dict[str, int] = {}  # clause -> mutants it killed (the first killer only, in mode "first")
    sole: dict[str, int] = {}  # clause -> mutants no other clause killed (mode "all")
    for r in killed:
        clauses = list(dict.fromkeys(c.split("::")[-1] for c in r.failing))
        for clause in clauses if mode == "all" else clauses[:1]:
            per_clause[clause] = per_clause.get(clause, 0) + 1
        if mode == "all" and len(clauses) == 1:
            sole[clauses[0]] = sole.get(clauses[0], 0) + 1
    tables: dict[str, dict[str, dict[str, int]]] = {"per_operator": {name: {} for name in OPERATORS}, "per_block": {}}
    for r in records:
        for table, key in [("per_operator", r.operator), *(("per_block", b) for b in r.blocks)]:
            row = tables[table].setdefault(key, {})
            row.update({s: row.get(s, 0) for s in ("mutants", "killed", "equivalent", "survived")})
            row["mutants"] += 1
            row[r.status] += 1
    return {
        "profile": profile,
        "mode": mode,
        "subset": subset_run,
        "complete": complete,
        "mutants": len(records),
        "killed": len(killed),
        "equivalent": len(equivalent),
        "survived": len(records) - len(killed) - len(equivalent),
        "kill_rate": rate,
        "goal": GOALS[profile],
        "meets_goal": rate >= GOALS[profile],
        "generated": generated,
        "seconds": round(sum(timings.values()), 1),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "per_clause": dict(sorted(per_clause.items(), key=lambda kv: -kv[1])),
        "per_clause_sole": dict(sorted(sole.items(), key=lambda kv: -kv[1])) if mode == "all" else None,
        "clauses_never_killing": [c for c in CLAUSES if c not in per_clause and c != "cuda.agreement"],
        "timeouts": _count(t for r in records for t in r.timeouts),
        "per_operator": {k: v for k, v in tables["per_operator"].items() if v},
        "per_block": tables["per_block"],
        "survivors": [_brief(r) for r in records if r.status == "survived"],
        "equivalents": [_brief(r) for r in equivalent],
        "records": [r.to_json() for r in records],
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _brief(r) -> dict:
    return {"id": r.id, "operator": r.operator, "blocks": r.blocks, "description": r.description,
            "reason": r.equivalent_reason, "check": r.check, "diff": r.diff}
