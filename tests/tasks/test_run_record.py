"""A resumed task's summary keeps the epochs run before the resume (tasks._cli.RunRecord)."""

import json
import types

from tasks._cli import RunRecord


def _record(tmp_path, config, checkpointer):
    record = RunRecord("tasks.demo", ["--epochs", "3"], tmp_path / "s.json", config=config,
                       fields=lambda complete: {"task": "demo", "complete": complete})
    record.checkpointer = checkpointer
    return record


def _epoch(n, accuracy):
    return {"epoch": n, "seconds": 1.0, "train": {"loss": 1.0 / n}, "eval": {"accuracy": accuracy}}


def test_a_fresh_run_has_no_resume_and_keeps_its_epochs(tmp_path):
    record = _record(tmp_path, {"seed": 0}, types.SimpleNamespace(restored_epoch=None, restored_history=None))
    record.record_epoch(_epoch(1, 0.5))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["resumed_from_epoch"] is None and [h["epoch"] for h in summary["history"]] == [1]
    assert "before_resume" not in summary


def test_the_epochs_saved_with_the_checkpoint_head_the_history(tmp_path):
    saved = [_epoch(1, 0.5), _epoch(2, 0.6), _epoch(3, 0.7)]  # epoch 3 was saved after the checkpoint restored
    record = _record(tmp_path, {"seed": 0}, types.SimpleNamespace(restored_epoch=2, restored_history=saved))
    record.record_epoch(_epoch(3, 0.8))
    summary = record.summary(complete=True)
    assert summary["resumed_from_epoch"] == 2 and summary["epochs_run"] == 3
    assert [h["eval"]["accuracy"] for h in summary["history"]] == [0.5, 0.6, 0.8]


def test_an_old_checkpoint_takes_the_history_of_the_same_runs_earlier_summary(tmp_path):
    earlier = {"command": "python -m tasks.demo --epochs 3", "config": {"seed": 0, "output": "a.json", "resume": False},
               "history": [_epoch(1, 0.5), _epoch(2, 0.6)], "wall_seconds": 120.0}
    (tmp_path / "s.json").write_text(json.dumps(earlier))
    old = types.SimpleNamespace(restored_epoch=2, restored_history=None)
    summary = _record(tmp_path, {"seed": 0, "output": "b.json", "resume": True}, old).summary(complete=True)
    assert [h["epoch"] for h in summary["history"]] == [1, 2]  # nothing to run: the history is the earlier one
    assert summary["before_resume"]["wall_seconds"] == 120.0 and summary["resumed_from_epoch"] == 2


def test_another_runs_summary_or_one_with_missing_epochs_is_not_taken(tmp_path):
    old = types.SimpleNamespace(restored_epoch=2, restored_history=None)
    for config, history, command in [
        ({"seed": 1}, [_epoch(1, 0.5), _epoch(2, 0.6)], "python -m tasks.demo"),   # another seed
        ({"seed": 0}, [_epoch(2, 0.6)], "python -m tasks.demo"),                   # epoch 1 missing
        ({"seed": 0}, [_epoch(1, 0.5), _epoch(2, 0.6)], "python -m tasks.other"),  # another task
    ]:
        (tmp_path / "s.json").write_text(json.dumps({"command": command + " --x", "config": config,
                                                     "history": history}))
        summary = _record(tmp_path, {"seed": 0}, old).summary(complete=True)
        assert summary["history"] == [] and summary["resumed_from_epoch"] == 2, (config, command)
