"""`scaling.results`: run directories (`scaling.rundir`'s files) read into DataFrames, sweeps still writing included."""

import json

import pytest

from scaling.errors import ScalingError
from scaling.results import load_curves, load_runs, select_runs
from tests.synthetic_runs import write_run

SUMMARY = {"status": "completed", "params": 12345, "non_embedding_params": 9000, "tokens": 2.5e6, "flops": 1.85e11,
           "final_train_loss": 2.1, "final_val_loss": 2.2, "model": {"style": "llama", "d_model": 64, "n_layers": 2},
           "budget": {"flops": 2e11, "tokens": None}, "seed": 0}
METRICS = [{"step": s, "tokens": 1000.0 * s, "flops": 6 * 12345 * 1000.0 * s, "lr": 1e-3, "train_loss": 3.0 - s / 10}
           for s in range(1, 6)] + [{"step": 5, "tokens": 5000.0, "flops": 6 * 12345 * 5000.0, "val_loss": 2.6}]


@pytest.fixture
def results(tmp_path):
    """A results root with two experiments: a completed run, one still writing, one diverged, one whose summary
    is half written."""
    write_run(tmp_path / "isoflop" / "llama_1e11", SUMMARY, METRICS)
    write_run(tmp_path / "isoflop" / "llama_3e11", None, METRICS[:3], partial_tail='{"step": 4, "tokens": 40')
    write_run(tmp_path / "other" / "gpt3_1e11", {**SUMMARY, "status": "diverged", "params": 999}, METRICS[:2])
    write_run(tmp_path / "other" / "torn", None, METRICS[:1], summary_text='{"status": "compl')
    return tmp_path


def test_load_runs_has_one_row_per_run_with_flattened_summary_fields(results):
    with pytest.warns(UserWarning, match="torn/summary.json: unreadable"):
        runs = load_runs(results).set_index("run")
    assert sorted(runs.index) == ["isoflop/llama_1e11", "isoflop/llama_3e11", "other/gpt3_1e11", "other/torn"]
    assert runs.loc["isoflop/llama_1e11", "status"] == "completed"
    assert runs.loc["isoflop/llama_1e11", "model.d_model"] == 64
    assert runs.loc["isoflop/llama_1e11", "budget.flops"] == 2e11
    assert runs.loc["isoflop/llama_1e11", "final_val_loss"] == 2.2
    assert runs.loc["other/gpt3_1e11", "status"] == "diverged"
    assert runs.loc["isoflop/llama_3e11", "status"] == "running"  # metrics, no summary yet
    assert runs.loc["other/torn", "status"] == "running"  # a partial summary is no summary
    assert runs.loc["isoflop/llama_1e11", "experiment"] == "isoflop"


def test_load_runs_accepts_one_experiment_dir(results):
    runs = load_runs(results / "isoflop")
    assert sorted(runs["run"]) == ["llama_1e11", "llama_3e11"]


def test_load_curves_has_one_row_per_complete_metrics_line(results):
    curves = load_curves(results)
    by_run = curves.groupby("run").size().to_dict()
    assert by_run == {"isoflop/llama_1e11": 6, "isoflop/llama_3e11": 3, "other/gpt3_1e11": 2, "other/torn": 1}
    done = curves[curves["run"] == "isoflop/llama_1e11"]
    assert (done["params"] == 12345).all() and done["val_loss"].notna().sum() == 1
    assert curves[curves["run"] == "isoflop/llama_3e11"]["params"].isna().all()  # no summary: size unknown yet
    assert list(done["train_loss"].dropna()) == [m["train_loss"] for m in METRICS[:5]]


def test_a_garbled_line_inside_metrics_is_skipped_with_a_warning(tmp_path):
    run = write_run(tmp_path / "exp" / "r", SUMMARY, METRICS[:2])
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([lines[0], "{not json", lines[1]]) + "\n")
    with pytest.warns(UserWarning, match="line 2 is not JSON"):
        curves = load_curves(tmp_path)
    assert list(curves["step"]) == [1, 2]


def test_empty_results_dir_gives_empty_frames_and_a_file_is_refused(tmp_path):
    assert load_runs(tmp_path).empty and load_curves(tmp_path).empty
    (tmp_path / "x.json").write_text(json.dumps({}))
    with pytest.raises(ScalingError, match="not a directory"):
        load_runs(tmp_path / "x.json")


def test_a_dir_whose_completed_runs_are_all_unusable_says_which_and_why(tmp_path):
    """The error names the runs and their unusable numbers itself: the command line prints only the error."""
    write_run(tmp_path / "nan_loss", {**SUMMARY, "final_val_loss": float("nan"), "final_train_loss": None}, METRICS)
    write_run(tmp_path / "neg_params", {**SUMMARY, "params": -5}, METRICS)
    with pytest.warns(UserWarning, match="skipped 2 completed run"), \
            pytest.raises(ScalingError, match=r"no completed run with usable numbers .*: (nan_loss|neg_params) \(") \
            as err:
        select_runs(tmp_path)
    assert "nan_loss (final_val_loss" in str(err.value) and "neg_params (params" in str(err.value)


def test_undecodable_metrics_bytes_and_a_metrics_directory_are_warnings_not_crashes(tmp_path):
    run = write_run(tmp_path / "exp" / "bytes", SUMMARY, METRICS[:3])
    lines = (run / "metrics.jsonl").read_bytes().splitlines()
    (run / "metrics.jsonl").write_bytes(b"\n".join([lines[0], b"\xff\xfe\x00garbage", *lines[1:]]) + b"\n")
    other = write_run(tmp_path / "exp" / "dir", SUMMARY, METRICS[:1])
    (other / "metrics.jsonl").unlink()
    (other / "metrics.jsonl").mkdir()
    with pytest.warns(UserWarning) as caught:
        curves = load_curves(tmp_path)
    said = " | ".join(str(w.message) for w in caught)
    assert "bytes/metrics.jsonl: line 2 is not JSON" in said and "dir/metrics.jsonl: unreadable" in said
    assert list(curves["step"]) == [1, 2, 3]


def test_a_summary_that_is_json_but_not_an_object_is_named_unreadable(tmp_path):
    write_run(tmp_path / "listed", None, METRICS[:2], summary_text="[1, 2]")
    with pytest.warns(UserWarning, match="listed/summary.json: unreadable summary.json"):
        runs = load_runs(tmp_path)
    assert list(runs["status"]) == ["running"]


def test_runs_of_two_corpora_are_refused_and_two_sweeps_fitted_as_one_are_named(tmp_path):
    """Losses per token of two tokenizers or texts are not one quantity: no law is fitted through both."""
    import warnings

    gutenberg = {**SUMMARY, "data": {"name": "gutenberg", "tokenizer": "byte", "vocab_size": 256}}
    write_run(tmp_path / "a" / "r1", gutenberg, METRICS)
    write_run(tmp_path / "a" / "r2", {**gutenberg, "params": 23456}, METRICS)
    write_run(tmp_path / "a" / "still", None, METRICS[:2])  # running: its data.* are gaps (the columns turn float)
    write_run(tmp_path / "b" / "r3", {**gutenberg, "data": {"name": "c4", "tokenizer": "gpt2", "vocab_size": 50257}},
              METRICS)
    with pytest.warns(UserWarning, match="not completed"), \
            pytest.raises(ScalingError, match=r"more than one corpus or tokenizer: name gutenberg, tokenizer byte, "
                                              r"vocab_size 256 \(2 runs\); name c4, tokenizer gpt2, vocab_size 50257 "
                                              r"\(1 run\): "):
        select_runs(tmp_path)
    # one config name, two texts (data=library and data=library_prose): their validation splits tell them apart
    write_run(tmp_path / "b" / "r3", {**gutenberg, "params": 34567,
                                      "data": {**gutenberg["data"], "val_tokens": 1000}}, METRICS)
    write_run(tmp_path / "a" / "r2", {**gutenberg, "params": 23456,
                                      "data": {**gutenberg["data"], "val_tokens": 2000}}, METRICS)
    with pytest.warns(UserWarning, match="not completed"), \
            pytest.raises(ScalingError, match=r"val_tokens \(none\) \(1 run\); val_tokens 2000 \(1 run\); "
                                              r"val_tokens 1000 \(1 run\)"):
        select_runs(tmp_path)
    # one text file edited in place between runs: its name, source and lengths agree, its tokens do not
    for name, params, digest in (("r1", 12345, "aaaa"), ("r2", 23456, "bbbb")):
        write_run(tmp_path / "a" / name, {**gutenberg, "params": params,
                                          "data": {**gutenberg["data"], "val_tokens": 1000, "tokens_sha256": digest}},
                  METRICS)
    with pytest.warns(UserWarning, match="not completed"), \
            pytest.raises(ScalingError, match=r"tokens_sha256 aaaa \(1 run\); tokens_sha256 bbbb \(1 run\)"):
        select_runs(tmp_path / "a")
    write_run(tmp_path / "a" / "r1", {**gutenberg, "data": {**gutenberg["data"], "val_tokens": 1000}}, METRICS)
    # the control: one corpus (a summary without val_tokens, as older ones are, is not judged on it)
    write_run(tmp_path / "a" / "r2", {**gutenberg, "params": 23456,
                                      "data": {**gutenberg["data"], "val_tokens": 1000}}, METRICS)
    with pytest.warns(UserWarning) as said:
        assert len(select_runs(tmp_path).runs) == 3
    assert any("the runs of 2 sweep directories are fitted as one (a: 2, b: 1)" in str(w.message) for w in said)
    (tmp_path / "a" / "still" / "metrics.jsonl").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one sweep's directory: no warning
        assert len(select_runs(tmp_path / "a").runs) == 2


def test_sweep_directories_are_told_apart_by_their_path_not_their_name(tmp_path):
    write_run(tmp_path / "x" / "cpu" / "r1", SUMMARY, METRICS)
    write_run(tmp_path / "y" / "cpu" / "r2", {**SUMMARY, "params": 23456}, METRICS)
    with pytest.warns(UserWarning, match=r"the runs of 2 sweep directories are fitted as one \(x/cpu: 1, y/cpu: 1\)"):
        select_runs(tmp_path)
