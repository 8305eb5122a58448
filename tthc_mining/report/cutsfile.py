"""Candidate cuts from a YAML (or JSON) file, for ``tthc-mining cuts LOG --cuts cuts.yaml``.

The file is either a list of cuts or a mapping with ``cuts:`` (the list) and optionally
``cost:`` (fields of :class:`tthc_mining.CostParams`). Each cut is a mapping with ``type`` (a
name of :data:`tthc_mining.cuts.CUT_TYPES`) and that cut's fields, exactly as
``Cut.to_dict()`` writes them; an optional ``procedure`` key scores the cut within one
procedure's dossiers. Example::

    cost:
      hourly_income_vnd: 40000
    cuts:
      - type: RemoveLoop
        kind: supplement
      - type: ShortenStep
        activity: Thẩm định hồ sơ
        factor: 0.5
        procedure: "1.004227"
      - type: Bundle
        name: Liên thông điện tử
        cuts:
          - {type: RemoveHandover, from_unit: Sở Tư pháp, to_unit: Công an tỉnh}
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["CutsFile", "load_cuts"]


@dataclass
class CutsFile:
    """Cuts read from a file: the cut objects, the procedure of each (``None`` = whole log) and
    the cost parameters (``None`` = defaults)."""

    cuts: list
    procedures: list
    cost: Any = None
    source: str = ""
    entries: list = field(default_factory=list)

    def to_frame(self):
        """``cut``, ``procedure`` frame as :func:`tthc_mining.score_cuts` accepts it."""
        import pandas as pd
        return pd.DataFrame({"cut": self.cuts, "procedure": self.procedures})


def _nfc(o: Any) -> Any:
    if isinstance(o, str):
        return unicodedata.normalize("NFC", o)
    if isinstance(o, dict):
        return {_nfc(k): _nfc(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_nfc(v) for v in o]
    return o


def load_cuts(path: str | Path) -> CutsFile:
    """Read a cuts file (see the module docstring). Raises
    :class:`~tthc_mining.errors.ConfigError` naming the file and the entry for anything wrong."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"cuts file {str(p)!r} not found")
    try:
        from ..cuts import CostParams, cut_from_dict
    except ImportError as exc:  # pragma: no cover - cuts are part of the package
        raise ConfigError(f"the cut engines are not available in this version: {exc}") from None
    text = p.read_text(encoding="utf-8-sig")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError: one clear line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cuts file {p.name!r}: cannot parse it: {first}") from None
    data = _nfc(data)
    cost = None
    if isinstance(data, dict):
        unknown = set(data) - {"cuts", "cost"}
        if unknown:
            raise ConfigError(f"cuts file {p.name!r}: unknown top-level key(s) "
                              f"{', '.join(sorted(map(str, unknown)))}; expected 'cuts' and 'cost'")
        if data.get("cost") is not None:
            if not isinstance(data["cost"], dict):
                raise ConfigError(f"cuts file {p.name!r}: 'cost' must be a mapping of CostParams fields")
            try:
                cost = CostParams(**data["cost"])
            except TypeError as exc:
                raise ConfigError(f"cuts file {p.name!r}: cost: {exc}") from None
        items = data.get("cuts")
    else:
        items = data
    if not isinstance(items, list) or not items:
        raise ConfigError(f"cuts file {p.name!r}: expected a non-empty list of cuts "
                          "(each a mapping with 'type', e.g. {type: RemoveLoop, kind: supplement})")
    cuts, procs = [], []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ConfigError(f"cuts file {p.name!r}, cut #{i}: expected a mapping with 'type', "
                              f"got {item!r}")
        d = dict(item)
        proc = d.pop("procedure", None)
        try:
            cut = cut_from_dict(d)
        except ConfigError as exc:
            raise ConfigError(f"cuts file {p.name!r}, cut #{i}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"cuts file {p.name!r}, cut #{i} ({d.get('type')}): {exc}") from None
        cuts.append(cut)
        procs.append(None if proc is None else str(proc))
    return CutsFile(cuts=cuts, procedures=procs, cost=cost, source=str(p), entries=list(items))
