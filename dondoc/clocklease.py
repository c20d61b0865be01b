"""serve's hold on the clock lease (models/store/clocklease.py): taken before the scheduler starts, renewed on a
thread while it runs, given back when serve stops cleanly."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import datetime

from models.store import clocklease
from models.store.clocklease import RENEW_SECONDS, Claimant, Verdict
from models.store.db import open_database
from models.errors import InUse
from models.settings import Settings
from models.store.tables import ClockLease
from models.textcheck import shown
from models.calendar.timerules import wall_clock


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (a zombie, killed but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):  # no process can have that number
        return False
    except OSError:  # EPERM: it exists and belongs to someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc here: signal 0 answered, so it exists


def _when(instant: datetime, settings: Settings) -> str:
    return instant.astimezone(settings.tz).strftime("%H:%M:%S ngày %d/%m/%Y")


def _who(row: ClockLease, settings: Settings) -> str:
    return f"máy {row.host}, PID {row.pid}, từ {_when(row.started_at, settings)}"


class Held:
    """The lease while serve holds it: a daemon thread renews it every RENEW_SECONDS.

    If a renewal finds the lease taken over (this process stalled past the lease and
    another serve took the clock), the scheduler is shut down at once: two clocks must
    never share the job store. The reply pages keep running.
    """

    def __init__(self, settings: Settings, engine, claimant: Claimant, scheduler, every: float = RENEW_SECONDS):
        self.settings, self.engine, self.claimant, self.scheduler = settings, engine, claimant, scheduler
        self.every = every
        self.stop = threading.Event()
        self.lost = False
        self.thread = threading.Thread(target=self._keep, name="clock-lease", daemon=True)
        self.thread.start()

    def _keep(self) -> None:
        from dondoc.app import err

        failing = False
        while not self.stop.wait(self.every):
            try:
                ours = clocklease.renew(self.engine, instance=self.claimant.instance,
                                        now=wall_clock(self.settings.tz))
            except Exception as exc:  # noqa: BLE001 - a database outage must not end the renewals
                if not failing:
                    err.print(shown(f"Chưa gia hạn được quyền giữ đồng hồ quét ({exc}); thử lại sau "
                                    f"{RENEW_SECONDS} giây."), markup=False)
                failing = True
                continue
            if failing and ours:
                err.print("Đã gia hạn lại quyền giữ đồng hồ quét.", markup=False)
            failing = False
            if not ours:
                self._lose(err)
                return

    def _lose(self, err) -> None:
        self.lost = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        try:
            row = clocklease.holder(self.engine)
        except Exception:  # noqa: BLE001 - the line below is said either way
            row = None
        who = f" ({_who(row, self.settings)})" if row else ""
        err.print(shown(f"Đồng hồ quét đã dừng: một `dondoc serve` khác{who} đã nhận đồng hồ của cơ sở dữ liệu "
                        "này vì tiến trình này không gia hạn kịp; trang phản hồi vẫn chạy."), markup=False)

    def release(self) -> None:
        """Stop renewing and give the lease back; a database that is gone is reported, not raised."""
        from dondoc.app import err

        self.stop.set()
        self.thread.join(timeout=60)
        if self.lost:
            return
        try:
            clocklease.release(self.engine, instance=self.claimant.instance)
        except Exception as exc:  # noqa: BLE001 - serve is stopping: say it, do not fail the stop
            err.print(shown(f"Không trả được quyền giữ đồng hồ quét ({exc}); serve sau trên máy này nhận lại ngay, "
                            f"trên máy khác sau {clocklease.LEASE_SECONDS} giây."), markup=False)


def hold(settings: Settings, scheduler) -> Held:
    """Take the clock of ``settings.database_url`` for this process, or refuse with one line (exit code 2)."""
    from dondoc.app import err

    engine = open_database(settings.database_url)
    claimant = Claimant(instance=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid())
    verdict, row = clocklease.take(engine, claimant=claimant, now=wall_clock(settings.tz), pid_alive=pid_alive)
    if verdict is Verdict.HELD:
        who = f" ({_who(row, settings)})" if row else ""
        raise InUse(f"đồng hồ quét của cơ sở dữ liệu này đang chạy trong một `dondoc serve` khác{who}: mỗi cơ sở "
                    "dữ liệu chỉ có một đồng hồ. Để chạy thêm trang phản hồi, dùng `dondoc serve --no-clock`.")
    if verdict is Verdict.EXPIRED:
        err.print(shown(f"Nhận đồng hồ quét từ một `dondoc serve` đã thôi gia hạn (máy {row.host}, PID {row.pid}, "
                        f"lần cuối lúc {_when(row.renewed_at, settings)})."), markup=False)
    elif verdict in (Verdict.DEAD, Verdict.REUSED):
        err.print(shown(f"Nhận đồng hồ quét từ một `dondoc serve` đã dừng đột ngột ({_who(row, settings)})."),
                  markup=False)
    return Held(settings, engine, claimant, scheduler)
