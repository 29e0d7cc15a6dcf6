"""Solver engines behind one interface: run a Pyomo model, report why it stopped and what it found."""

from solvers.result import LinearCut, Progress, SolveResult, SolverError, SolverOptions, Termination

__all__ = ["LinearCut", "Progress", "SolveResult", "SolverError", "SolverOptions", "Termination", "get_engine"]


def get_engine(name: str):
    """The engine registered under `name` ('highs')."""
    if name == "highs":
        from solvers.highs import HighsEngine

        return HighsEngine()
    raise SolverError(f"unknown solver engine '{name}'; use 'highs'")
