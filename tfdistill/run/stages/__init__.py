"""The stages of a run, in order: teacher, transfer, students, evaluate, export.

Each stage is a module of small functions taking the `RunContext`; each reuses what
an earlier attempt of the run left whole in the run directory.
"""
