"""Benchmarks of Parcours ASE, each measured beside its baseline in the same run.

``python -m benchmarks`` (``make bench``) runs them all and writes their figures
to ``benchmarks/resultats/<nom>.json``.
"""
