"""``bench/_run_phases.py``: a run's phases and its server's CPU in the map phase."""

from __future__ import annotations

from bench._run_phases import phases_from

#: A run that began at 100.0: executed from 100.5, children from 101.0 to 111.0
#: (1,000 of them), reduced from 111.1 to 115.1, ended at 115.1, exited at 115.3.
MARKS = {
    "started": 100.5,
    "map_from": 101.0,
    "map_to": 111.0,
    "children": 1000.0,
    "reduce_from": 111.1,
    "reduce_to": 115.1,
    "ended": 115.1,
}


def test_phases_and_the_servers_share_of_the_map_phase() -> None:
    # (time, the command's CPU, the machine's busy CPU): the server spent 3.0 s of the
    # machine's 20.0 s in the map phase
    samples = [(100.0, 0.0, 0.0), (100.9, 0.6, 1.0), (110.9, 3.6, 21.0), (115.2, 3.8, 29.0)]
    phases = phases_from(MARKS, samples, began=100.0, ended=115.3)
    assert phases == {
        "startup_s": 0.5,
        "before_map_s": 0.5,
        "map_s": 10.0,
        "reduce_s": 4.0,
        "end_s": 0.2,
        "server_cpu_map_s": 3.0,
        "server_ms_per_batch": 3.0,
        "server_share_of_map": 0.15,
    }


def test_a_run_without_a_map_phase_has_no_cpu_figures() -> None:
    marks = {"started": 100.5, "ended": 101.0}
    phases = phases_from(marks, [(100.0, 0.0, 0.0)], began=100.0, ended=101.5)
    assert phases == {"startup_s": 0.5, "end_s": 0.5}


def test_a_moment_before_every_sample_takes_the_first() -> None:
    samples = [(105.0, 1.0, 2.0), (110.0, 2.0, 12.0), (112.0, 9.0, 19.0)]
    phases = phases_from(MARKS, samples, began=100.0, ended=115.3)
    assert phases["server_cpu_map_s"] == 1.0
    assert phases["server_share_of_map"] == 0.1
