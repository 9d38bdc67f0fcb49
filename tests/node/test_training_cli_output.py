"""What ``peermind train start/status`` print for a run (the run's JSON as the API serves it)."""

from __future__ import annotations

import io

from peermind.node.training._request import RunRequest
from peermind.node.training._run_state import RunState
from peermind.node.training_cli import print_run, round_line

A, B = "12D3KooWAAAAAAAAAAAAAAAAAAAA", "12D3KooWBBBBBBBBBBBBBBBBBBBB"


def test_a_run_prints_its_request_rounds_refusals_and_adoption() -> None:
    state = RunState("r1", RunRequest(rounds=2, clip_norm=1.0), coordinator=A, state="done")
    state.accepted = {A: {}, B: {"local_dp": None}}
    state.refused = {"12D3KooWCCCCCCCCCCCCCCCCCCCC": "busy"}
    state.privacy = {"clipping": {"mod": "fixedclipping_mod", "clipping_norm": 1.0}, "noise": {A: None}}
    state.rounds = [{"round": 1, "participants": [A, B], "asked": [A, B], "duration_s": 2.5,
                     "validation": {"choice-accuracy": 0.75, "log-loss": 0.5}, "failed": {}, "excluded": {B: "outlier"},
                     "clipped": {A: 0.5}}]
    state.adoption = {A: {"adopted": True, "reason": "better on validation"}, B: {"error": "timeout"}}
    out = io.StringIO()
    print_run(state.to_json(audit=False), out=out)
    text = out.getvalue()
    assert "run r1 (p2p, fedavg): done" in text and "participants: 12D3KooW…AAAA, 12D3KooW…BBBB" in text
    assert "refused: 12D3KooW…CCCC: busy" in text and "clipping norm 1.0" in text
    assert "round 1/2, 2 of 2 took part, val choice-acc 0.750, log-loss 0.500, 2.5 s" in text
    assert "excluded: 12D3KooW…BBBB (outlier)" in text and "scaled down: 12D3KooW…AAAA x0.50" in text
    assert "12D3KooW…AAAA: adopted: better on validation" in text and "12D3KooW…BBBB: no decision (timeout)" in text


def test_a_round_with_missing_fields_still_prints_one_line() -> None:
    assert round_line({"round": 3}, 5) == "round 3/5, 0 of 0 took part, val choice-acc -, log-loss -, - s"
