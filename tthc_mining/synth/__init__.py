"""The synthetic province: a realistic multi-procedure dossier log with its ground truth.

``tm.synth.province(n_dossiers, seed)`` simulates a province's one-stop system on the Vietnamese
working-time axis: commune, district and province procedures with their statutory deadlines and
step allotments, one-stop desk -> specialists -> leaders -> result, inter-unit hand-overs,
supplement loops, tax suspensions, re-appointments and a few overdue dossiers, and plants known
phenomena (one bottleneck step of a known kind and one overdue-causing unit per procedure, loop
rates, late and double supplement requests, clock restarts, online dossiers keyed in at the desk).
The result carries the log (:class:`~tthc_mining.DossierLog`), the truth (:class:`SynthTruth`)
and the procedure catalogue.

    >>> import tthc_mining as tm
    >>> log, truth = tm.synth.province(3000, seed=1)
    >>> truth.bottlenecks[["procedure", "activity", "kind"]]

For what-if studies (issue 5) use :class:`World` directly: ``World(params, seed, n)`` fixes the
dossiers and every random number; ``world.simulate(params2)`` re-simulates them under changed
parameters (common random numbers). See :mod:`tthc_mining.synth.build` for the exact
definitions behind every truth column. ``tm.synth.true_effect(province, cut)`` applies a cut of
:mod:`tthc_mining.cuts` to the world itself and re-simulates it (:mod:`tthc_mining.synth.cuts`).
"""
from __future__ import annotations

import dataclasses
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from .. import schema as S
from ..errors import ConfigError, InputError
from ..log import DossierLog
from .build import (build_events, case_ids, event_segments, make_log, step_stats, truth_cases,
                    truth_tables)
from .export import ONESTOP_HEADERS, onestop_frame, write_onestop
from .procedures import (BATCHING, HANDOVER, KINDS, QUEUE, SLOW_WORK, BatchSpec, Dist,
                         Geography, ProcedureDef, QueueSpec, StepDef, SynthParams, catalog_frame,
                         default_params, default_procedures, select_procedures)
from .world import Changes, SimResult, World
from .cuts import TrueEffect, true_effect, world_changes

__all__ = ["province", "SynthProvince", "SynthTruth", "World", "SimResult", "SynthParams",
           "ProcedureDef", "StepDef", "Dist", "QueueSpec", "BatchSpec", "Geography",
           "default_params", "default_procedures", "catalog_frame", "build", "cli_synth",
           "write_onestop", "onestop_frame", "ONESTOP_HEADERS", "KINDS", "QUEUE", "SLOW_WORK",
           "HANDOVER", "BATCHING", "true_effect", "TrueEffect", "world_changes", "Changes"]

TRUTH_FORMAT = "tthc_mining.synth.truth/1"
_TIME_COLUMNS = ("submitted", "receipt_start", "received", "clock_start", "finished", "returned",
                 "base_due", "statutory_due", "reported_due", "due_before", "due_after")


@dataclass
class SynthTruth:
    """What the generator planted and what really happened, dossier by dossier.

    ``cases``: one row per dossier (definitions in :mod:`tthc_mining.synth.build`);
    ``bottlenecks``: per procedure the planted step, its kind and its true waiting as the events
    show it (``true_wait_mean_h`` over ``n_executions``, ``rank_total_wait`` among the
    procedure's agency steps other than *Trả kết quả*); ``overdue_units``: procedure -> the unit
    planted to cause overdue dossiers, ``overdue``: per procedure the planted and realised
    overdue counts and the unit most often causing them; ``loop_rates``: per procedure the
    planted probabilities and the realised rates (with ``n_dossiers``); ``params``: the
    parameters; ``meta``: seed, size, period, calendar.
    """

    cases: pd.DataFrame
    bottlenecks: pd.DataFrame
    overdue_units: dict
    overdue: pd.DataFrame
    loop_rates: pd.DataFrame
    params: dict
    meta: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.cases

    def case(self, case_id: str) -> pd.Series:
        hit = self.cases[self.cases[S.CASE] == case_id]
        if hit.empty:
            raise ConfigError(f"no dossier {case_id!r} in the truth")
        return hit.iloc[0]

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        cases = self.cases.copy()
        for c in _TIME_COLUMNS:
            if c in cases.columns:
                s = pd.DatetimeIndex(cases[c])
                iso = pd.Series(np.asarray(s.strftime("%Y-%m-%dT%H:%M:%S%z"), dtype=object))
                cases[c] = iso.where(~np.asarray(s.isna()), None).to_numpy()
        for c in cases.columns:
            if cases[c].dtype.kind == "f":
                cases[c] = cases[c].round(3)
        data = json.loads(cases.to_json(orient="split", index=False, force_ascii=False))
        return {"format": TRUTH_FORMAT, "meta": self.meta, "overdue_units": self.overdue_units,
                "bottlenecks": _records(self.bottlenecks), "overdue": _records(self.overdue),
                "loop_rates": _records(self.loop_rates), "params": self.params,
                "cases": {"columns": data["columns"], "data": data["data"]}}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "<truth>") -> "SynthTruth":
        if not isinstance(d, dict) or d.get("format") != TRUTH_FORMAT:
            raise InputError(f"not a synthetic-province truth (expected format {TRUTH_FORMAT!r})",
                             file=source, column="format",
                             value=d.get("format") if isinstance(d, dict) else type(d).__name__)
        try:
            cases = pd.DataFrame(d["cases"]["data"], columns=d["cases"]["columns"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"cannot read the dossier table: {e}", file=source,
                             column="cases") from None
        tz = (d.get("meta") or {}).get("tz") or S.DEFAULT_TZ
        for c in _TIME_COLUMNS:
            if c in cases.columns:
                cases[c] = pd.to_datetime(cases[c], utc=True, format="ISO8601").dt.tz_convert(tz)
        return cls(cases=cases, bottlenecks=pd.DataFrame(d.get("bottlenecks", [])),
                   overdue_units=dict(d.get("overdue_units", {})),
                   overdue=pd.DataFrame(d.get("overdue", [])),
                   loop_rates=pd.DataFrame(d.get("loop_rates", [])),
                   params=d.get("params", {}), meta=d.get("meta", {}))

    @classmethod
    def load(cls, path: str | Path) -> "SynthTruth":
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e.msg}", file=str(path), row=e.lineno) from None
        return cls.from_dict(d, source=str(path))

    def __repr__(self) -> str:
        return (f"SynthTruth({len(self.cases):,} dossiers, {len(self.bottlenecks)} procedures, "
                f"seed={self.meta.get('seed')})")

    def _repr_html_(self) -> str:
        cols = ["procedure", "activity", "unit", "kind", "true_wait_mean_h", "rank_total_wait"]
        return (f"<p><b>SynthTruth</b> {len(self.cases):,} dossiers, seed "
                f"{html.escape(str(self.meta.get('seed')))}</p>"
                "<p>Điểm nghẽn được cài đặt / planted bottlenecks</p>"
                + self.bottlenecks[[c for c in cols if c in self.bottlenecks]].to_html(
                    index=False, escape=True)
                + "<p>Đơn vị gây quá hạn / planted overdue units</p>"
                + self.overdue.to_html(index=False, escape=True))


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", force_ascii=False))


@dataclass
class SynthProvince:
    """A generated province: ``log`` (DossierLog), ``truth`` (SynthTruth), ``catalog``
    (ProcedureCatalog or, without it, the interchange frame). ``log, truth = province(...)``."""

    log: DossierLog
    truth: SynthTruth
    catalog: Any
    world: World
    params: SynthParams

    def __iter__(self) -> Iterator:
        return iter((self.log, self.truth))

    def catalog_frame(self) -> pd.DataFrame:
        return catalog_frame(self.params)

    def to_onestop(self, path: str | Path) -> Path:
        """Write the log as a one-stop export (``.csv`` / ``.xlsx``, Vietnamese headers)."""
        return write_onestop(self.log.events, path, tz=self.world.cal.tz)

    def save_catalog(self, path: str | Path) -> Path:
        path = Path(path)
        catalog_frame(self.params).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        return path

    def to_frame(self) -> pd.DataFrame:
        return self.log.events

    def to_json(self, **kw) -> str:
        return self.truth.to_json(**kw)

    def __repr__(self) -> str:
        return (f"SynthProvince({self.log.n_cases:,} dossiers, {self.log.n_events:,} events, "
                f"seed={self.world.seed})")

    def _repr_html_(self) -> str:
        return self.log._repr_html_() + self.truth._repr_html_()


def _catalog(params: SynthParams):
    frame = catalog_frame(params)
    try:
        from ..catalog import ProcedureCatalog
    except ImportError:  # pragma: no cover - the catalogue module ships with the package
        return frame
    return ProcedureCatalog.from_frame(frame, source="synth")


def build(sim: SimResult) -> SynthProvince:
    """Turn a simulation into a :class:`SynthProvince` (log, truth, catalogue)."""
    W = sim.world
    ids = case_ids(sim)
    events, ev = build_events(sim, ids)
    seg = event_segments(ev)
    cases = truth_cases(sim, ids, ev, seg)
    stats = step_stats(sim, ev, seg)
    bottlenecks, overdue_units, overdue, loops = truth_tables(sim, cases, stats)
    meta = {"seed": W.seed, "n_dossiers": W.n, "start": str(W.start.date()), "months": W.months,
            "calendar": W.cal.to_dict(), "tz": W.cal.tz, "generator": "tthc_mining.synth",
            "n_events": int(len(events)),
            "definitions": "see tthc_mining.synth.build (module docstring)"}
    truth = SynthTruth(cases=cases, bottlenecks=bottlenecks, overdue_units=overdue_units,
                       overdue=overdue, loop_rates=loops, params=sim.params.to_dict(), meta=meta)
    catalog = _catalog(sim.params)
    log = make_log(sim, events, catalog, W.seed)
    return SynthProvince(log=log, truth=truth, catalog=catalog, world=W, params=sim.params)


def province(n_dossiers: int = 5000, seed: int = 0, *, start: Any = "2025-01-01", months: int = 12,
             procedures: Iterable[Any] | None = None, calendar: Any = None,
             **overrides: Any) -> SynthProvince:
    """Generate a synthetic province log and its ground truth.

    Parameters
    ----------
    n_dossiers: dossiers received in the period (split among procedures by their shares).
    seed: random seed; the same arguments give the same log and truth.
    start, months: the period of receipt; dossiers are followed until their result is returned.
    procedures: procedure codes (or :class:`ProcedureDef` objects) to include; default all eight.
    calendar: working calendar (default :class:`~tthc_mining.VietnamCalendar`).
    overrides: fields of :class:`SynthParams` (e.g. ``desk_entered_share=0.1``).

    Phenomena that need volume (batched completions in the same minute, queue backlog visible
    in the log) show best with at least ~100 dossiers per working day, e.g. ``n_dossiers=3000,
    months=1``; waiting times and planted truths hold at any size.
    """
    params = select_procedures(default_params(**overrides), procedures)
    world = World(params, seed, n_dossiers, start=start, months=months, calendar=calendar)
    return build(world.simulate())


#: how the bundled sample (datasets/) is made; :func:`write_sample` reproduces it byte for byte
SAMPLE = {"n_dossiers": 1650, "seed": 2025, "start": "2025-04-01", "months": 1}


def write_sample(directory: str | Path, *, xlsx: bool = True, **kw: Any) -> dict:
    """Write the bundled sample: ``sample_province.csv`` (one-stop layout),
    ``sample_province.xlsx`` (same events), ``sample_truth.json`` and ``sample_catalog.csv``.
    Keyword arguments override :data:`SAMPLE`. Deterministic (the CSV and JSON files are
    identical on every run)."""
    cfg = {**SAMPLE, **kw}
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    prov = province(cfg["n_dossiers"], cfg["seed"], start=cfg["start"], months=cfg["months"])
    out = {"log": prov.to_onestop(d / "sample_province.csv"),
           "truth": prov.truth.save(d / "sample_truth.json"),
           "catalog": prov.save_catalog(d / "sample_catalog.csv")}
    if xlsx:
        out["xlsx"] = prov.to_onestop(d / "sample_province.xlsx")
    return out


def cli_synth(n: int = 5000, seed: int = 0, out_path: str | Path = "synth_province.csv",
              fmt: str | None = None, *, truth_path: str | Path | None = None,
              catalog_path: str | Path | None = None, start: Any = "2025-01-01",
              months: int = 12) -> dict:
    """What ``tthc-mining synth`` does: generate, then write the log (``fmt`` = ``"csv"``,
    ``"xlsx"`` or ``"parquet"``; default from the suffix of ``out_path``), and optionally the
    truth (JSON) and the catalogue (CSV). Returns counts, paths and timings for the CLI to
    print; prints nothing."""
    out = Path(out_path)
    fmt = (fmt or out.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "xlsx", "parquet"):
        raise ConfigError(f"unknown output format {fmt!r}; use csv, xlsx or parquet")
    if out.suffix.lower() != "." + fmt:
        out = out.with_suffix("." + fmt)
    t0 = time.perf_counter()
    prov = province(n, seed, start=start, months=months)
    t1 = time.perf_counter()
    if fmt == "parquet":
        prov.log.events.to_parquet(out)
    else:
        prov.to_onestop(out)
    written = {"log": str(out)}
    if truth_path is not None:
        written["truth"] = str(prov.truth.save(truth_path))
    if catalog_path is not None:
        written["catalog"] = str(prov.save_catalog(catalog_path))
    t2 = time.perf_counter()
    c = prov.truth.cases
    return {"dossiers": int(prov.log.n_cases), "events": int(prov.log.n_events),
            "on_time_share": float(1 - c["overdue"].mean()),
            "on_time_reported_share": float(1 - c["overdue_reported"].mean()),
            "generate_s": round(t1 - t0, 3), "write_s": round(t2 - t1, 3), "written": written}
