"""What an upload target is and what it is sent: the :class:`Target` protocol and its events.

A target (MLflow, OTLP) turns batches of :class:`MetricEvent` and :class:`MetaEvent` into
requests to one remote place; :class:`RunInfo` is what it needs to find or create the remote
run. The uploader core (``_core``) decides what is sent when; see ``docs/upload-core.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = ["CONTENT_REFUSALS", "MetaEvent", "MetricEvent", "RunInfo", "Target"]

# HTTP statuses of a refusal of what was sent (a bad value, too large), as opposed to one of
# where or by whom it was sent (401, 403, 404, a redirect, 415): only the first are set aside.
CONTENT_REFUSALS = frozenset({400, 413, 422})


class MetricEvent(NamedTuple):
    """One metric event of the store, with its deterministic position.

    ``seq`` is derived from the event's place in its events file, never from
    upload order: for scalars (``s``) and images (``i``) the step given to
    ``run.log`` or, when none was given, the previous step of the name in that file
    plus one (from 0); for a list (``l``) the step of its first element (the others
    follow); for rows and tables (``r``, ``t``) the index of the first row. ``source``
    is the events file the event came from: a ``*.metrics.jsonl`` file or, for the
    numeric ``run.log`` points, a ``*.points.bin`` file.
    """

    kind: str
    name: str
    value: Any
    step: int | None
    time: float
    seq: int
    source: str


class MetaEvent(NamedTuple):
    """One status/tag/property/name/description event (see ``docs/store-format.md``)."""

    kind: str
    key: str | None
    value: Any
    time: float


@dataclass(frozen=True)
class RunInfo:
    """What a target needs to find or create the remote run."""

    run_id: str
    experiment: str
    run_dir: Path
    record: dict[str, Any]
    display_name: str | None
    start_time: float
    parent_id: str | None


@runtime_checkable
class Target(Protocol):
    """A remote place runs are shipped to. Every method may be called again with the same data.

    Methods raise :class:`~runlog.UploadUnavailable` for what is worth retrying and
    :class:`~runlog.UploadRejected` for what is not; the core retries, splits a
    rejected batch to find the culprit, and sets it aside.
    """

    name: str  # cursor file stem, unique per endpoint: "<kind>-<hash>"
    endpoint: str  # for messages; never contains a secret
    max_points: int  # most points per send_metrics call
    max_meta: int  # most events per send_meta call

    def open(self, run: RunInfo, state: dict[str, Any]) -> None:
        """Find or create the remote run, keeping what must survive restarts in ``state``.

        ``state`` is persisted in the cursor (saved after every acknowledged batch, so a
        target may also update it in ``send_*`` and ``flush``) and comes back as it was
        after a restart. When it already names the remote run, ``open`` needs no request.
        """

    def send_metrics(self, events: Sequence[MetricEvent]) -> None:
        """Send a batch of metric events; a re-send of the same events must be harmless."""

    def send_meta(self, events: Sequence[MetaEvent]) -> None:
        """Send tags, properties, names and descriptions (status goes through :meth:`finish`)."""

    def send_file(self, name: str, path: Path) -> None:
        """Upload run file ``name`` (whole; called again when the file changed)."""

    def flush(self, final: bool) -> None:
        """Send what the target derives from several events (e.g. table artifacts)."""

    def finish(self, status: str, end_time: float | None) -> None:
        """The local run ended with ``status`` and everything before it was sent."""

    def close(self) -> None:
        """Release connections."""

