"""The scheduler's fairness rules, with blocking jobs held at gates so the order is observable."""

from __future__ import annotations

import threading

import anyio
import pytest

from engine import Config
from server.scheduling import Busy, Scheduler
from server.scheduling.budgets import trace_too_long
from server.scheduling.cost import max_train_steps, trace_seconds, train_seconds
from server.scheduling.scheduler import Job
from server.settings import Settings
from tests.server.ws_helpers import run_async


class Gates:
    """Blocking jobs that record when they start and wait for the test to release them."""

    def __init__(self):
        self.started: list[str] = []
        self.release: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def job(self, name: str):
        self.release[name] = threading.Event()

        def fn():
            with self.lock:
                self.started.append(name)
            assert self.release[name].wait(10), f"{name} was never released"
            return name

        return fn


async def until(predicate) -> None:
    with anyio.fail_after(10):
        while not predicate():
            await anyio.sleep(0.002)


def scheduler(**kw) -> Scheduler:
    return Scheduler(Settings(**{"max_concurrent": 2, "big_job_seconds": 0.5, "max_queued_seconds": 100.0, **kw}))


def test_big_jobs_leave_a_slot_for_small_ones():
    gates, s = Gates(), scheduler()

    async def main():
        async with anyio.create_task_group() as tg:
            for k, (name, cost) in enumerate((("big1", 5.0), ("big2", 5.0), ("small", 0.01)), 1):
                tg.start_soon(lambda n=name, c=cost: s.run(gates.job(n), cost=c))
                await until(lambda k=k: s.running + len(s.waiting) == k)  # in the scheduler's hands, in this order
            await until(lambda: len(gates.started) == 2)
            assert gates.started == ["big1", "small"] and [j.cost for j in s.waiting] == [5.0]
            gates.release["small"].set()
            gates.release["big1"].set()
            await until(lambda: "big2" in gates.started)
            gates.release["big2"].set()

    run_async(main)


def test_short_jobs_go_first_and_waiting_raises_a_long_jobs_priority():
    gates, s = Gates(), scheduler(max_concurrent=1, big_job_seconds=1e9)

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: s.run(gates.job("hold"), cost=0.01))
            await until(lambda: gates.started == ["hold"])
            tg.start_soon(lambda: s.run(gates.job("long"), cost=1.0))
            await until(lambda: len(s.waiting) == 1)  # queued before the short one
            tg.start_soon(lambda: s.run(gates.job("short"), cost=0.01))
            await until(lambda: len(s.waiting) == 2)
            gates.release["hold"].set()
            await until(lambda: len(gates.started) == 2)
            assert gates.started[1] == "short"
            gates.release["short"].set()
            gates.release["long"].set()

    run_async(main)
    # Response ratio: a long job that has waited long enough outranks a fresh short one.
    old = Job(1.0, None, None, 0, enqueued=0.0, big=False)
    fresh = Job(0.01, None, None, 1, enqueued=9.99, big=False)
    assert old.priority(10.0) > fresh.priority(10.0)


def test_a_client_gets_one_core_at_a_time():
    gates, s = Gates(), scheduler()
    alice, bob = object(), object()

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: s.run(gates.job("a1"), cost=0.01, owner=alice))
            await until(lambda: gates.started == ["a1"])
            tg.start_soon(lambda: s.run(gates.job("a2"), cost=0.01, owner=alice))
            # Once the scheduler has a2 it has decided (it dispatches as a job arrives): a slot is free, but not
            # for alice.
            await until(lambda: s.running + len(s.waiting) == 2)
            assert s.running == 1 and len(s.waiting) == 1 and gates.started == ["a1"]
            tg.start_soon(lambda: s.run(gates.job("b1"), cost=0.01, owner=bob))
            await until(lambda: "b1" in gates.started)
            gates.release["a1"].set()
            await until(lambda: "a2" in gates.started)
            gates.release["a2"].set()
            gates.release["b1"].set()

    run_async(main)


def test_a_full_queue_is_busy_and_cancelled_waiters_leave_it():
    gates, s = Gates(), scheduler(max_concurrent=1, max_queued_seconds=1.0)

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: s.run(gates.job("hold"), cost=0.01))
            await until(lambda: gates.started == ["hold"])
            s.admit(5.0)  # an empty queue takes any job, however big
            scope = anyio.CancelScope()

            async def waiter():
                with scope:
                    await s.run(gates.job("queued"), cost=0.9)

            tg.start_soon(waiter)
            await until(lambda: len(s.waiting) == 1)
            with pytest.raises(Busy) as busy:
                s.admit(0.2)
            assert busy.value.retry_after_s >= 1 and "busy" in busy.value.message
            scope.cancel()
            await until(lambda: not s.waiting)
            s.admit(0.2)
            gates.release["hold"].set()
            await until(lambda: s.running == 0)
        assert gates.started == ["hold"]  # the cancelled job never ran

    run_async(main)


def test_costs_grow_with_the_work_and_training_is_capped_by_steps():
    small = Config.from_dict({})
    assert trace_seconds(small) < trace_seconds(Config.from_dict({"seq_len": 500}))
    assert trace_seconds(Config.from_dict({"cell": "rnn"})) < trace_seconds(Config.from_dict({"cell": "lstm"}))
    assert trace_seconds(small) < trace_seconds(Config.from_dict({"hidden_size": 256}))
    # truncated BPTT: one more fused call per window, per layer and direction
    assert trace_seconds(Config.from_dict({"seq_len": 500, "tbptt": 500})) == trace_seconds(
        Config.from_dict({"seq_len": 500}))
    assert trace_seconds(Config.from_dict({"seq_len": 500, "tbptt": 1})) > 5 * trace_seconds(
        Config.from_dict({"seq_len": 500}))
    biggest = Config.from_dict({"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4,
                                "bidirectional": True, "batch_size": 1, "steps": 5000})  # fmt: skip
    assert train_seconds(biggest) > 3600  # hours: refused by a 10 minute cap
    most = max_train_steps(biggest, 600.0)
    assert 1 <= most < 5000
    assert train_seconds(Config.from_dict({**biggest.to_dict(), "steps": most})) <= 600.0


def test_attention_is_priced_by_its_scores_and_its_lag_map_by_a_backward_pass_per_decoder_row():
    def cfg(**kw):
        return Config.from_dict({"arch": "encoder-decoder", "task": "reverse", "cell": "rnn", "seq_len": 128,
                                 "batch_size": 64, "hidden_size": 128, **kw})  # fmt: skip

    none, dot, additive = (cfg(attention=a) for a in ("none", "dot", "additive"))
    # The additive decoder runs a step at a time and scores through a tanh: dearer than the dot score's one product.
    assert trace_seconds(none) < trace_seconds(dot) < trace_seconds(additive)
    # Without attention the map is one sweep over recorded Jacobians; with it, a backward pass for each of its rows.
    sweep, per_row = (trace_seconds(c, lag=True) - trace_seconds(c) for c in (none, additive))
    assert per_row > 5 * sweep
    assert (trace_seconds(cfg(attention="dot", seq_len=64), lag=True) - trace_seconds(cfg(attention="dot", seq_len=64))
            < (trace_seconds(dot, lag=True) - trace_seconds(dot)) / 2)  # fewer rows, each over a shorter graph
    # Up front, the server refuses the map of the additive model that it would trace without attention.
    assert trace_too_long(none, 3.0, lag=True) is None and trace_too_long(additive, 3.0) is None
    message, field = trace_too_long(additive, 3.0, lag=True)
    assert field == "seq_len" and "seq_len must be at most" in message


def test_a_stream_of_small_jobs_does_not_starve_a_big_one():
    gates, s = Gates(), scheduler()

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: s.run(gates.job("small1"), cost=0.01))
            tg.start_soon(lambda: s.run(gates.job("small2"), cost=0.01))
            await until(lambda: len(gates.started) == 2)
            tg.start_soon(lambda: s.run(gates.job("big"), cost=5.0))
            tg.start_soon(lambda: s.run(gates.job("small3"), cost=0.01))
            await until(lambda: len(s.waiting) == 2)
            gates.release["small1"].set()
            await until(lambda: len(gates.started) == 3)
            assert gates.started[2] == "big"  # the freed slot went to the big job, not the newer small one
            gates.release["small2"].set()
            await until(lambda: "small3" in gates.started)  # and the other slot still serves small work
            gates.release["small3"].set()
            gates.release["big"].set()

    run_async(main)


def test_big_jobs_give_their_freed_memory_back(monkeypatch):
    calls = []
    monkeypatch.setattr("server.scheduling.scheduler.release_free_memory", lambda: calls.append(1))
    s = scheduler()

    async def main():
        await s.run(lambda: None, cost=0.01)
        await s.run(lambda: None, cost=5.0)

    run_async(main)
    assert calls == [1]  # after the big job only: trimming costs a few ms
