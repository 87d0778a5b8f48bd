"""Chinchilla scaling-law planner: exact parameter and FLOP counts, parametric laws, allocation rules, grids.

Pure numpy/scipy (pandas and matplotlib only where a function returns a frame or a figure); never torch, so the
`scaling` CLI starts fast and runs anywhere.
"""

__version__ = "0.1.0"
