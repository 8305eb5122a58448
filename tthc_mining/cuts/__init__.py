"""Procedure cuts: a catalogue of typed cuts, automatic candidates, scores and explanations.

``tm.cuts.RemoveStep(...)`` & co. (:mod:`tthc_mining.cuts.catalogue`), ``tm.suggest_cuts(log)``
(:mod:`~tthc_mining.cuts.suggest`), ``tm.score_cuts(log, cuts)`` (:mod:`~tthc_mining.cuts.score`,
replay engine in :mod:`~tthc_mining.cuts.replay`, simulation in :mod:`tthc_mining.simulation`),
``tm.explain_cut(log, cut)`` (:mod:`~tthc_mining.cuts.explain`) and ``tm.CostParams``
(:mod:`~tthc_mining.cuts.cost`).
"""
from __future__ import annotations

from .catalogue import (CUT_TYPES, LOOP_KINDS, AddStaff, Bundle, Cut, MergeSteps, Parallelize,
                        ReduceLoopRate, RemoveHandover, RemoveLoop, RemoveStep, ShortenStep,
                        cut_from_dict)
from .cost import CostParams
from .explain import CutExplanation, explain_cut
from .replay import ReplayContext, ReplayOutcome, replay
from .score import COLUMNS, LABELS, score_cuts
from .suggest import suggest_cuts

__all__ = ["Cut", "RemoveStep", "MergeSteps", "Parallelize", "RemoveLoop", "ReduceLoopRate",
           "ShortenStep", "AddStaff", "RemoveHandover", "Bundle", "CUT_TYPES", "LOOP_KINDS",
           "cut_from_dict", "CostParams", "suggest_cuts", "score_cuts", "explain_cut",
           "CutExplanation", "replay", "ReplayContext", "ReplayOutcome", "COLUMNS", "LABELS"]
