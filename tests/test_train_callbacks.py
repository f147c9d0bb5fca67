"""Training callbacks: the hooks a notebook's live plot and the explorer's live view read."""
from __future__ import annotations

import torch

import cnnlab
from cnnlab.training.callbacks import StartEvent, StepEvent

TINY = dict(data="digits", batch_size=64, threads=1, report=False, quiet=True)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_start(self, event: StartEvent) -> None:
        self.events.append(("start", event))

    def on_step(self, event: StepEvent) -> None:
        self.events.append(("step", event))

    def on_epoch(self, row: dict) -> None:
        self.events.append(("epoch", row))

    def on_end(self, result) -> None:
        self.events.append(("end", result))


class OnlySteps:
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step(self, event: StepEvent) -> None:
        self.steps.append(event.step)


def test_callbacks_see_every_step_and_epoch_in_order_and_do_not_change_the_numbers(tmp_path):
    recorder, partial = Recorder(), OnlySteps()
    with_hooks = cnnlab.train("fastnet_small", epochs=2, lr=0.1, out=str(tmp_path), name="a", seed=3,
                              callbacks=[recorder, partial], **TINY)
    plain = cnnlab.train("fastnet_small", epochs=2, lr=0.1, out=str(tmp_path), name="b", seed=3, **TINY)

    kinds = [kind for kind, _ in recorder.events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    start = recorder.events[0][1]
    steps = [e for kind, e in recorder.events if kind == "step"]
    assert [e.step for e in steps] == list(range(1, start.total_steps + 1)) == partial.steps
    assert start.run_dir == with_hooks.run_dir and start.start_step == 0
    assert all(e.total_steps == start.total_steps and e.lr > 0 and 0 <= e.train_acc <= 1 for e in steps)
    assert [row["epoch"] for kind, row in recorder.events if kind == "epoch"] == [1, 2]
    assert recorder.events[-1][1].status == "completed"
    # hooks only read: the same seed gives the same weights with or without them
    for a, b in zip(with_hooks.model.state_dict().values(), plain.model.state_dict().values()):
        assert torch.equal(a, b)
