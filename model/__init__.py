"""Formulations (Pyomo builders, one function per constraint family) and the evaluation of any plan.

Solver-agnostic: nothing here runs a solver; search strategies receive an engine from the caller.
"""
