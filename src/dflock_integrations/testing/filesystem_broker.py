"""A broker in a folder, for development and tests with nothing installed.

    app.conf.update(filesystem_broker(Path(".broker")))

kombu's filesystem transport creates a message file and only then writes it. A
worker listing the folder in between takes the empty file, fails to decode it and
stops ("Unrecoverable error: JSONDecodeError"); with several tasks sent at once this
happens within minutes. The transport here writes each message under a name
consumers skip and renames it into place, which is atomic, so a consumer sees a
message whole or not at all. Everything else is kombu's.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps

TRANSPORT = f"{__name__}:Transport"
# A consumer takes only names ending in ".<queue>.msg"; this suffix hides a message
# until it is complete.
_PARTIAL = ".partial"


class Channel(filesystem.Channel):
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # kombu's own naming, so messages are taken in the same (time) order.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + _PARTIAL
        try:
            with open(partial, "wb") as out:
                out.write(str(dumps(payload)).encode())  # type: ignore[no-untyped-call]
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def filesystem_broker(root: Path, *, polling_interval_s: float = 0.05) -> dict[str, Any]:
    """Celery settings for a broker and a result store in folders under `root` (created).

    Every process pointing at the same `root` shares the queues: a web process sends,
    a worker consumes. Nothing is written outside `root`.
    """
    folders = {name: root / name for name in ("messages", "processed", "control", "results")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport": TRANSPORT,
        "broker_transport_options": {
            "data_folder_in": str(folders["messages"]),
            "data_folder_out": str(folders["messages"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "store_processed": False,
            "polling_interval": polling_interval_s,
        },
        "result_backend": f"file://{folders['results']}",
    }
