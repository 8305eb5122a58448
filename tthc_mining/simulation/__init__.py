"""Queue-aware simulation learned from the log (issue 5, part 2).

``tm.simulation.fit(log)`` learns the model (:mod:`~tthc_mining.simulation.model`: empirical
arrivals, variant routes, empirical durations per station and time of day, officer in-trays at
queue steps with calibrated hidden work, citizen and third-party time), ``model.backtest()``
compares its simulated baseline with the log (:mod:`~tthc_mining.simulation.backtest`), and
``tm.simulation.score(log, cuts)`` scores cuts with common random numbers in the columns of
``tm.score_cuts`` (:mod:`~tthc_mining.simulation.scoring`), which calls it for
``method="simulate"``. The event loop is :mod:`~tthc_mining.simulation.engine`.
"""
from __future__ import annotations

from .backtest import TOLERANCES, Backtest, backtest_from_run, run_backtest
from .engine import SimulationRun, run_events, run_passes, simulate
from .model import SimulationModel, fit_model as fit
from .scoring import score

__all__ = ["fit", "score", "SimulationModel", "Backtest", "SimulationRun", "simulate",
           "run_passes", "run_events", "backtest_from_run", "run_backtest", "TOLERANCES"]
