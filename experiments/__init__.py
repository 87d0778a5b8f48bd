"""The experiment harness (torch + Hydra): one configurable decoder-only transformer, corpora and a trainer sized
by the planner in `scaling`. `docs/architecture.md` lists its modules and what each owns."""
