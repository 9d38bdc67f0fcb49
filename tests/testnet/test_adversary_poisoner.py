"""The ``poisoner`` wraps a real FederatedClient: honest training, then ``-10 w + 5`` on every array."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "federated"))
from fed_testkit import schema, task  # noqa: E402
from flwr.app import ConfigRecord, Message, RecordDict  # noqa: E402
from peermind.federated import FederatedClient, RouterModel, make_client_app  # noqa: E402
from peermind.federated._flower_compat import (  # noqa: E402
    ensure_instruction_identity,
    message_from_bytes,
    message_to_bytes,
    stamp_instruction,
)
from peermind.federated._records import router_to_arrayrecord, schema_to_config  # noqa: E402
from peermind.federated._synthetic import node_datasets  # noqa: E402
from peermind.testnet._adversary_training import PoisoningClient  # noqa: E402

NODE = 424_242


def _instruction() -> bytes:
    ensure_instruction_identity()
    config = ConfigRecord({**schema_to_config(schema()), "server-round": 1})
    msg = Message(RecordDict({"arrays": router_to_arrayrecord(RouterModel(schema())), "config": config}),
                  NODE, "train")
    stamp_instruction(msg, run_id=7, message_id="m-1")
    return message_to_bytes(msg)


def _client() -> FederatedClient:
    rows = node_datasets(task(), 1, queries_per_node=40)[0]
    return FederatedClient(make_client_app(lambda: rows), node_id=NODE)


def test_poisoned_update_is_minus_ten_w_plus_five_of_the_honest_one() -> None:
    payload = _instruction()
    honest = message_from_bytes(_client().handle(payload))
    poisoned_count = []
    poisoner = PoisoningClient(_client(), lambda: poisoned_count.append(1))
    assert poisoner.node_id == NODE  # everything else is the real client's
    poisoned = message_from_bytes(poisoner.handle(payload))
    assert not poisoned.has_error() and poisoned_count == [1]
    h, p = honest.content.array_records["arrays"], poisoned.content.array_records["arrays"]
    assert list(h.keys()) == list(p.keys())
    for key in h.keys():
        np.testing.assert_allclose(p[key].numpy(), -10.0 * h[key].numpy() + 5.0, rtol=1e-6)
    # metrics (example counts, losses) are left as the honest ones, so the update looks normal
    assert dict(poisoned.content.metric_records["metrics"]) == dict(honest.content.metric_records["metrics"])


def test_error_replies_pass_through_untouched() -> None:
    poisoner = PoisoningClient(FederatedClient(make_client_app(lambda: ([], [])), node_id=NODE), lambda: None)
    reply = message_from_bytes(poisoner.handle(_instruction()))
    assert reply.has_error()
