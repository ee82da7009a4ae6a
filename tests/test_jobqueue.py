"""Tests for bulkdel.jobqueue: lanes are never exceeded and no job is lost or duplicated."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from bulkdel.jobqueue import Job, JobQueue


def jobs(vifs: list[str]) -> list[Job]:
    return [Job(f"p{n}", vif) for n, vif in enumerate(vifs)]


def test_fresh_jobs_come_in_inventory_order_when_lanes_are_free() -> None:
    """Distinct interfaces: the queue hands jobs out in the order they were added."""
    q = JobQueue(per_interface=1)
    for fresh in jobs(["a", "b", "c"]):
        q.add(fresh)
    taken = []
    while (job := q.next(0.0)) is not None:
        q.claim(job)
        taken.append(job.peer_id)
    assert taken == ["p0", "p1", "p2"]
    assert q.active == 3


def test_a_busy_interface_holds_its_next_peer_until_the_lane_frees() -> None:
    """The second peer of an interface waits, then goes first once the first one ends."""
    q = JobQueue(per_interface=1)
    first, second, other = jobs(["a", "a", "b"])
    for job in (first, second, other):
        q.add(job)
    got = q.next(0.0)
    assert got is first
    q.claim(first)
    assert q.next(0.0) is other  # `second` is blocked behind `first`
    q.claim(other)
    assert q.next(0.0) is None
    assert q.waiting
    q.release(first)
    assert q.next(0.0) is second


def test_due_retries_go_before_fresh_jobs_and_early_ones_wait() -> None:
    """A parked retry comes back only once due, and then ahead of fresh jobs."""
    q = JobQueue(per_interface=1)
    retry, fresh = jobs(["a", "b"])
    q.add(fresh)
    q.park(retry, due=5.0)
    assert q.next_due(now=2.0) == 3.0
    assert q.next(now=2.0) is fresh
    q.put_back(fresh)
    assert q.next(now=5.0) is retry
    assert q.next(now=5.0) is fresh


def test_drain_returns_parked_by_due_time_and_the_rest_in_line() -> None:
    """Stopping empties the queue: retries by due time, then never-started jobs in order."""
    q = JobQueue(per_interface=1)
    a, b, c, d = jobs(["a", "a", "b", "c"])
    for job in (a, b, c):
        q.add(job)
    q.claim(q.next(0.0) or a)  # a holds lane "a"; b becomes blocked on the next look
    assert q.next(0.0) is c
    q.put_back(c)
    q.park(d, due=9.0)
    parked, rest = q.drain()
    assert parked == [d]
    assert rest == [c, b]
    assert len(q) == 0
    assert not q.waiting


@given(
    st.lists(st.sampled_from("abc"), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=3),
    st.lists(st.sampled_from(["take", "release", "park", "time"]), max_size=120),
)
def test_lanes_hold_and_every_job_finishes_exactly_once(
    vifs: list[str], per_interface: int, ops: list[str]
) -> None:
    """Under any interleaving, no interface exceeds its lanes and each job ends exactly once."""
    q = JobQueue(per_interface)
    all_jobs = jobs(vifs)
    for job in all_jobs:
        q.add(job)
    now = 0.0
    running: list[Job] = []
    finished: list[str] = []

    def take() -> bool:
        job = q.next(now)
        if job is None:
            return False
        q.claim(job)
        running.append(job)
        held = Counter(j.vif_id for j in running)
        assert max(held.values()) <= per_interface
        return True

    for op in ops:
        if op == "take":
            take()
        elif op == "time":
            now += 1.0
        elif running:
            job = running.pop(0)
            q.release(job)
            if op == "park" and job.attempts == 0:
                job.attempts = 1
                q.park(job, now + 0.5)
            else:
                finished.append(job.peer_id)
    while running or len(q):  # finish the rest: everything left still comes out
        if not take():
            if running:
                job = running.pop(0)
                q.release(job)
                finished.append(job.peer_id)
            else:
                now += 1.0
    assert sorted(finished) == sorted(j.peer_id for j in all_jobs)
    assert q.active == 0
