"""The node's one SQLite file (``DATA_DIR/node.db``): peers, task log, training data, trust evidence.

Why a package: every subsystem keeps rows here, so one module per table group
lets each evolve its own reads and writes without editing the others;
``database.py`` holds the connection and transactions, ``migrations.py`` the
one schema history. :class:`Store` joins the table modules into the single
handle the daemon opens and passes down.

Calls are synchronous and short (well under a millisecond for one row). The
daemon may call them directly from trio; larger reads (``feedback_rows`` for a
training round) should go through ``trio.to_thread.run_sync``. Feedback rows
are training data and never leave the node.
"""

from __future__ import annotations

from .database import DB_FILENAME
from .evidence import EvidenceRecord, EvidenceTable
from .feedback import FeedbackRecord, FeedbackTable, labelled_split
from .migrations import MIGRATIONS as _MIGRATIONS  # noqa: F401  (tests migrate old files)
from .migrations import SCHEMA_VERSION
from .peers import PeerRecord, PeerSighting, PeerTable
from .replay_floors import ReplayFloorTable
from .tasks import TaskLog, TaskRecord
from .training import RoundRecord, RouterWeights, TrainingTables

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "EvidenceRecord",
    "FeedbackRecord",
    "PeerRecord",
    "PeerSighting",
    "RoundRecord",
    "RouterWeights",
    "Store",
    "TaskRecord",
    "labelled_split",
]


class Store(PeerTable, TaskLog, FeedbackTable, EvidenceTable, TrainingTables, ReplayFloorTable):
    """A node's SQLite database. Open with :meth:`Store.open`; close with :meth:`close`."""
