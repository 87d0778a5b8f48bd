"""Scaling laws from data: Hoffmann et al. 2022's Approaches 1, 2 and 3, with bootstrap confidence intervals.

    from scaling.fitting import fit
    result = fit("runs.csv", approach="all", bootstrap=1000, budgets=[1e21])   # or a DataFrame, or a results dir
    result.law                     # Approach 3's ParametricLaw, ready for `scaling plan --law`
    result.to_dict()               # the fit JSON (schema in scaling/fitting/api.py)

Everything goes through `fit()`; the modules behind it, one concept each:

| module | what it owns |
|---|---|
| `api.py` | `fit()`, `FitResult`, the fit JSON and `write_fit` |
| `options.py` | `FitOptions` and the lists of choices (approaches, losses, engines, conventions) |
| `data.py` | `FitData`: final losses and curves from a CSV, a DataFrame or a results dir, checked; conventions |
| `parametric.py` | Approach 3: L = E + A/N^alpha + B/D^beta by Huber on log losses; lack of fit against seeds |
| `newton.py` | the batched damped Newton that Approach 3 and its bootstrap run on |
| `isoflop.py` | Approach 2: isoFLOP parabolas on a window per budget, their vertices, bootstrap, budgets' scatter |
| `backtest.py` | one budget held out, predicted by Approaches 2 and 3 from the others, compared with its runs |
| `envelope.py` | Approach 1: the lower envelope of training curves |
| `power_law.py` | N_opt ~ C^a, D_opt ~ C^b by least squares in log space (Approaches 1 and 2); L_min = E' + k C^-g |
| `bootstrap.py` | resamples as counts, percentile intervals |
"""

__all__ = ["FitOptions", "FitResult", "fit", "write_fit"]


def __getattr__(name: str):
    """Imported on first use: `scaling.fitting.options` stays light (no pandas) for the command line's parser."""
    if name == "FitOptions":
        from scaling.fitting.options import FitOptions

        return FitOptions
    if name in __all__:
        from scaling.fitting import api

        return getattr(api, name)
    raise AttributeError(f"module 'scaling.fitting' has no attribute {name!r}")
