"""An SMTP server that accepts and discards, counting distinct Message-IDs: for runs too big to keep on disk.

    python -m bench.sink --port 2525     # prints {"received": N, "distinct": M} on SIGTERM
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self) -> None:
        self.received = 0
        self.ids: set[bytes] = set()

    async def handle_DATA(self, server, session, envelope):
        header = re.search(rb"^Message-ID:\s*(\S+)", envelope.original_content or envelope.content,
                           re.MULTILINE | re.IGNORECASE)
        self.received += 1
        self.ids.add(header.group(1) if header else b"")
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    print(json.dumps({"received": sink.received, "distinct": len(sink.ids)}), flush=True)


if __name__ == "__main__":
    main()
