"""The experiment harness (torch): one configurable decoder-only transformer, data and a trainer sized by the
planner in `scaling`. Its modules arrive with the harness issue; the package exists so the distribution's layout
is fixed from the start."""
