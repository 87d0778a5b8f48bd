"""Chinchilla scaling-law planner: exact parameter and FLOP counts, parametric laws, allocation rules, grids,
fits of laws to runs, and the harness's results as DataFrames.

    from scaling import plan, judge, count, fit, load_runs
    count("llama-7b")["params"]                        # 6,738,415,616
    plan(1e21, "epoch")["allocations"]                 # one run per allocation rule, with its shape and loss
    plan(1e21, "epoch", unique_tokens=1e10)            # ... when only 1e10 unique tokens exist (repeated data)
    judge("llama-13b", 1e12, "epoch")                  # a given run: its loss, and the compute that would do
    fit("results/reference", approach="all").law       # Approach 3's law from a sweep
    load_runs("results/reference")                     # one row per run

Pure numpy/scipy (pandas and matplotlib only where a function returns a frame or a figure); never torch, so the
`scaling` CLI starts fast and runs anywhere. Names are imported on first use.
"""

__version__ = "0.1.0"

# public name -> the module that owns it
_OWNERS = {
    "ScalingError": "scaling.errors",
    "ModelShape": "scaling.architecture", "Components": "scaling.architecture", "preset": "scaling.architecture",
    "solve_shape": "scaling.architecture", "PRESETS": "scaling.architecture", "STYLES": "scaling.architecture",
    "flops_per_token": "scaling.flops",
    "ParametricLaw": "scaling.laws", "get_law": "scaling.laws", "NAMED_LAWS": "scaling.laws",
    "PowerLawAllocation": "scaling.laws", "FittedLaw": "scaling.laws", "load_law": "scaling.laws",
    "allocate": "scaling.allocation", "RULES": "scaling.allocation", "TOKENS_PER_PARAM": "scaling.allocation",
    "count": "scaling.planning", "plan": "scaling.planning", "plan_point": "scaling.planning",
    "judge": "scaling.planning",
    "PlannedRun": "scaling.planning",
    "isoflop_grid": "scaling.grid", "allocation_grid": "scaling.grid",
    "fit": "scaling.fitting", "FitOptions": "scaling.fitting", "FitResult": "scaling.fitting",
    "load_runs": "scaling.results", "load_curves": "scaling.results", "completed_runs": "scaling.results",
}

__all__ = sorted(_OWNERS)


def __getattr__(name: str):
    if name in _OWNERS:
        import importlib

        return getattr(importlib.import_module(_OWNERS[name]), name)
    raise AttributeError(f"module 'scaling' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
