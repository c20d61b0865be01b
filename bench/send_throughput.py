"""Send throughput: dondoc's dispatcher against a bare aiosmtplib loop, same messages, same local server.

    .venv/bin/python bench/send_throughput.py [--messages 2000]

dondoc claims the due rows, renders them, sends over DONDOC_SMTP_CONNECTIONS
reused connections and records each outcome. The baseline sends the very same
bytes (read back from the mailbox) over one connection in a plain loop.
Goal: dondoc's rate ≥ 0.8 × the bare loop's.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import at, mailbox_process, report, write_directives  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    os.environ["DONDOC_DATABASE_URL"] = f"sqlite:///{work / 'dondoc.db'}"

    from models.store.db import open_database, transaction
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.settings import get_settings
    from models.calendar.timerules import TimeRules
    from notifications.dispatch import dispatch_batch

    rules = TimeRules()
    per_directive = 100
    paths = write_directives(work / "directives", args.messages // per_directive, per_directive)
    for path in paths:
        with transaction() as session:
            launch_directive(session, loaded=load_directive_file(path), now=at(2020, 11, 30, 9), rules=rules, actor="bench")

    with mailbox_process(work / "maildir-dondoc") as port:
        os.environ.update(DONDOC_SMTP_PORT=str(port), DONDOC_SMTP_HOST="127.0.0.1")
        settings = get_settings()
        engine = open_database(settings.database_url)
        started = time.perf_counter()
        sent = 0
        while True:
            result = dispatch_batch(engine, now=at(2020, 11, 30, 9, 5), settings=settings, rules=rules)
            sent += result.delivered  # messages, as the bare loop below counts them
            if result.claimed == 0:
                break
        dondoc_seconds = time.perf_counter() - started

    box = mailbox.Maildir(str(work / "maildir-dondoc"), create=False)
    raw = [box.get_bytes(key) for key in box.keys()]

    async def bare() -> float:
        import aiosmtplib

        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        begin = time.perf_counter()
        for message in raw:
            await client.sendmail("dondoc@localhost", ["sxd@longan.example.com"], message)
        elapsed = time.perf_counter() - begin
        await client.quit()
        return elapsed

    with mailbox_process(work / "maildir-bare") as port:
        bare_seconds = asyncio.run(bare())

    report("send_throughput", {
        "messages": sent,
        "dondoc_seconds": round(dondoc_seconds, 2),
        "dondoc_per_second": round(sent / dondoc_seconds, 1),
        "bare_seconds": round(bare_seconds, 2),
        "bare_per_second": round(len(raw) / bare_seconds, 1),
        "ratio": round((sent / dondoc_seconds) / (len(raw) / bare_seconds), 2),
        "connections": settings.smtp_connections,
    })


if __name__ == "__main__":
    main()
