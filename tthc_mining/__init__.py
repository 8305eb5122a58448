"""tthc_mining: process mining for Vietnamese administrative procedures (thủ tục hành chính).

Dossier event logs in, working time out: readers for one-stop-shop exports, the Vietnamese
working calendar, deadlines, bottlenecks, rework loops and scored procedure cuts.

Public names are imported lazily so that ``import tthc_mining`` stays fast (pm4py, matplotlib
and graphviz are imported only where they are needed).
"""
from __future__ import annotations

import importlib
from typing import Any

from . import schema
from .calendar import VietnamCalendar, WorkingCalendar
from .errors import (CalendarError, CatalogError, ConfigError, EncodingError, InputError,
                     MissingColumnError, MissingProgramError, ResourceLimitError, TimestampError,
                     TthcMiningError)
from .log import DossierLog
from .quality import QualityReport

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "read_log": "tthc_mining.io",
    "write_log": "tthc_mining.io",
    "ProcedureCatalog": "tthc_mining.catalog",
    "timing": "tthc_mining.timing",
    "summary": "tthc_mining.summary",
    "synth": "tthc_mining.synth",
    "discover": "tthc_mining.discovery",
    "variants": "tthc_mining.discovery",
    "ProcessMap": "tthc_mining.discovery",
    "models": "tthc_mining.models",
    "bottlenecks": "tthc_mining.bottlenecks",
    "load": "tthc_mining.load",
    "handovers": "tthc_mining.handovers",
    "HandoverReport": "tthc_mining.handovers",
    "overdue_attribution": "tthc_mining.overdue",
    "OverdueReport": "tthc_mining.overdue",
    "conformance": "tthc_mining.conformance",
    "ConformanceReport": "tthc_mining.conformance",
    "rework": "tthc_mining.rework",
    "ReworkReport": "tthc_mining.rework",
    "cuts": "tthc_mining.cuts",
    "suggest_cuts": "tthc_mining.cuts",
    "score_cuts": "tthc_mining.cuts",
    "explain_cut": "tthc_mining.cuts",
    "CostParams": "tthc_mining.cuts",
    "simulation": "tthc_mining.simulation",
    "report": "tthc_mining.report",
    "Report": "tthc_mining.report",
    "pseudonymize": "tthc_mining.privacy",
    "privacy": "tthc_mining.privacy",
    "limits": "tthc_mining.limits",
    "engines": "tthc_mining.engines",
}

__all__ = ["schema", "VietnamCalendar", "WorkingCalendar", "DossierLog", "QualityReport",
           "TthcMiningError", "InputError", "MissingColumnError", "EncodingError",
           "TimestampError", "CalendarError", "CatalogError", "ConfigError",
           "MissingProgramError", "ResourceLimitError", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tthc_mining' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
