"""`dondoc mailbox` as a real process: it accepts SMTP, keeps a Maildir, prints a line per message, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from email.message import EmailMessage

import aiosmtplib

from dondoc.mailbox import free_port, read_messages, wait_for_port


def test_mailbox_keeps_and_prints_each_message(tmp_path):
    port = free_port()
    maildir = tmp_path / "maildir"
    process = subprocess.Popen([sys.executable, "-m", "dondoc", "mailbox", "--port", str(port), "--maildir", str(maildir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.com", "sxd@longan.example.com", "Nhắc hạn"
        message["X-Dondoc-Rung"] = "reminder"
        message.set_content("Kính gửi: Sở Xây dựng")
        asyncio.run(aiosmtplib.send(message, hostname="127.0.0.1", port=port, start_tls=False))
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "reminder" in out and "Nhắc hạn" in out and len(out.strip().splitlines()) == 1
    assert [str(m["Subject"]) for m in read_messages(maildir)] == ["Nhắc hạn"]


def test_mailbox_refuses_a_busy_port_with_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "dondoc", "mailbox", "--port", str(port), "--maildir", str(tmp_path / "m")],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and str(port) in done.stderr
