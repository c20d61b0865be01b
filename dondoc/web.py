"""The reply pages agencies reach from the signed links in their e-mail (FastAPI + Jinja2).

Every page works without JavaScript and on a phone. A request without a valid
link or form token gets a 403 page; invalid input re-renders the page with what
was typed and what is wrong, and nothing is written.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel import select
from starlette.datastructures import UploadFile as ReceivedFile

from models.db import transaction
from models.errors import DatabaseUnavailable, InputError
from models.extensions import pending_for, request_extension
from models.planning import mail_domain
from models.queries import agencies_of, agency_map, events_of, get_assignment
from models.settings import Settings, get_settings
from models.status import FLAG_LABELS, LABELS, OPEN, standing
from models.tables import Notification
from models.timerules import TimeRules, wall_clock
from models.updates import record_update
from notifications.context import describe_event
from notifications.links import LinkRefused, LinkScope, ReplyLinks, secret_key
from notifications.wording import RUNG_LABELS, weekday_date

CSRF_COOKIE = "dondoc_csrf"
LIMITS = {"number": 120, "note": 2000}
DOCUMENT_TYPES = {  # extension → the bytes such a file starts with
    ".pdf": (b"%PDF-",),
    ".docx": (b"PK\x03\x04",),
    ".doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
}
ACTIONS = {"tiep-nhan": "Đã ghi nhận: đơn vị đã tiếp nhận nhiệm vụ.",
           "tien-do": "Đã ghi nhận báo cáo tiến độ.",
           "hoan-thanh": "Đã ghi nhận báo cáo hoàn thành. Trân trọng cảm ơn Quý đơn vị.",
           "gia-han": "Đã gửi đề nghị gia hạn; cơ quan giao nhiệm vụ sẽ thông báo quyết định qua thư."}


class Refused(Exception):
    pass


def create_app(*, clock: Callable[[], datetime] | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    rules = TimeRules.from_settings(settings)
    links = ReplyLinks.from_settings(settings)
    csrf = URLSafeSerializer(secret_key(settings), salt="dondoc-csrf")
    now_of = clock or (lambda: wall_clock(rules.tz))
    pages = Environment(loader=PackageLoader("dondoc", "templates"), undefined=StrictUndefined,
                        autoescape=select_autoescape(default=True, default_for_string=True))
    upload_limit = int(settings.upload_max_mb * 1024 * 1024)
    secure_cookie = settings.public_url.startswith("https://")
    app = FastAPI(title="dondoc — trang phản hồi", docs_url=None, redoc_url=None)

    def html(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(**context), status_code=status)

    def refused(reason: str) -> HTMLResponse:
        return html("refused.html", 403, title="Không mở được trang phản hồi", reason=reason)

    @app.middleware("http")
    async def size_limit(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > upload_limit + 256 * 1024):
            return html("refused.html", 413, title="Tệp quá lớn",
                        reason=f"Dữ liệu gửi lên vượt quá giới hạn {settings.upload_max_mb:g} MB.")
        try:
            return await call_next(request)
        except DatabaseUnavailable:
            return html("refused.html", 503, title="Tạm thời gián đoạn",
                        reason="Hệ thống tạm thời không truy cập được dữ liệu; vui lòng thử lại sau ít phút.")

    def check_link(token: str, slug: str, key: str, now: datetime) -> LinkScope:
        try:
            scope = links.verify(token, slug=slug, key=key, now=now)
        except LinkRefused as exc:
            raise Refused(str(exc)) from None
        with transaction(settings) as session:
            try:
                _, assignment = get_assignment(session, slug=slug, key=key)
            except Exception:
                raise Refused("Nhiệm vụ không còn tồn tại.") from None
            if assignment.id != scope.assignment_id:
                raise Refused("Đường dẫn này dành cho một nhiệm vụ khác.")
            if scope.agency not in agencies_of(session, [assignment.id])[assignment.id]["lead"]:
                raise Refused("Đơn vị của đường dẫn này không còn là đơn vị chủ trì nhiệm vụ.")
        return scope

    def check_csrf(request: Request, value: str, scope: LinkScope) -> None:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        try:
            data = csrf.loads(value or "")
        except BadSignature:
            raise Refused("Phiên làm việc không hợp lệ (thiếu hoặc sai mã kiểm tra biểu mẫu). Vui lòng mở lại đường dẫn trong thư.") from None
        if not nonce or data.get("n") != nonce or data.get("a") != scope.assignment_id or data.get("g") != scope.agency:
            raise Refused("Phiên làm việc không hợp lệ (mã kiểm tra biểu mẫu không khớp). Vui lòng mở lại đường dẫn trong thư.")

    def render_page(request: Request, scope: LinkScope, token: str, now: datetime, *, status: int = 200,
                    errors: dict | None = None, form: dict | None = None, notice: str | None = None) -> HTMLResponse:
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        with transaction(settings) as session:
            directive, assignment = get_assignment(session, slug=scope.slug, key=scope.key)
            names = {code: a.name for code, a in agency_map(session).items()}
            names.setdefault("coordinator", names.get(directive.issuer, directive.issuer))
            roles = agencies_of(session, [assignment.id])[assignment.id]
            today = rules.today(now)
            s = standing(status=assignment.status, due=assignment.due, done_on=assignment.done_on, today=today,
                         calendar=rules.calendar)
            days = s.overdue_working_days
            flag = FLAG_LABELS[s.flag] + (f" {days} ngày làm việc" if s.flag == "overdue" else
                                           f", còn {-days} ngày làm việc" if days is not None and days < 0 else "")
            history = [(e.at, names.get(e.actor, e.actor), describe_event(e, None))
                       for e, _ in events_of(session, directive=directive, assignment=assignment)]
            sent = session.exec(select(Notification).where(Notification.assignment_id == assignment.id,
                                                           Notification.state == "sent")).all()
            history += [(n.sent_at, names.get(directive.issuer, directive.issuer), RUNG_LABELS.get(n.rung, n.rung))
                        for n in sent]
            request_pending = pending_for(session, assignment.id)
            context = dict(
                title=f"{assignment.title} — {directive.number}",
                directive={"number": directive.number, "subject": directive.subject,
                           "issued_on": f"{directive.issued_on:%d/%m/%Y}", "issuer_name": names.get(directive.issuer, directive.issuer)},
                assignment={"title": assignment.title, "action": assignment.action, "due": weekday_date(assignment.due),
                            "status": LABELS[assignment.status], "flag": flag, "colour": s.colour,
                            "leads": [names.get(c, c) for c in roles["lead"]],
                            "supporting": [names.get(c, c) for c in roles["supporting"]],
                            "evidence": (assignment.evidence or "") + (f" ngày {assignment.evidence_on:%d/%m/%Y}" if assignment.evidence_on else "")},
                agency=names.get(scope.agency, scope.agency),
                open=assignment.status in OPEN and directive.status == "active",
                can_acknowledge=assignment.status == "assigned",
                pending={"until": f"{request_pending.until:%d/%m/%Y}", "reason": request_pending.reason} if request_pending else None,
                history=[{"at": f"{at.astimezone(rules.tz):%d/%m/%Y %H:%M}", "actor": actor, "text": text}
                         for at, actor, text in sorted(history, key=lambda h: h[0])],
            )
        response = html("reply.html", status, token=token, base=f"/phan-hoi/{quote(scope.slug)}/{quote(scope.key)}",
                        csrf=csrf.dumps({"n": nonce, "a": scope.assignment_id, "g": scope.agency}),
                        errors=errors or {}, form={**_EMPTY_FORM, **(form or {})}, notice=notice,
                        limits={**LIMITS, "upload_mb": f"{settings.upload_max_mb:g}"}, **context)
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure_cookie,
                            path="/phan-hoi")
        return response

    def done_redirect(scope: LinkScope, token: str, action: str) -> RedirectResponse:
        return RedirectResponse(f"/phan-hoi/{quote(scope.slug)}/{quote(scope.key)}?t={token}&ok={action}", status_code=303)

    def act(request: Request, slug: str, key: str, token: str, csrf_value: str, action: str,
            validate: Callable[[datetime, LinkScope], tuple[dict, dict]],
            apply: Callable[..., None]) -> Response:
        now = now_of()
        try:
            scope = check_link(token, slug, key, now)
            check_csrf(request, csrf_value, scope)
        except Refused as exc:
            return refused(str(exc))
        errors, values = validate(now, scope)
        if not errors:
            try:
                with transaction(settings) as session:
                    apply(session, scope, now, values)
            except InputError as exc:
                errors = {"_": str(exc)}
        if errors:
            return render_page(request, scope, token, now, status=400, errors=errors, form=values.get("_form"))
        return done_redirect(scope, token, action)

    @app.get("/phan-hoi/{slug}/{key}", response_class=HTMLResponse)
    def reply_page(request: Request, slug: str, key: str, t: str = Query(""), ok: str = Query("")) -> Response:
        now = now_of()
        try:
            scope = check_link(t, slug, key, now)
        except Refused as exc:
            return refused(str(exc))
        return render_page(request, scope, t, now, notice=ACTIONS.get(ok))

    @app.post("/phan-hoi/{slug}/{key}/tiep-nhan", response_class=HTMLResponse)
    def acknowledge(request: Request, slug: str, key: str, t: str = Form(""), csrf: str = Form("")) -> Response:
        def apply(session, scope, now, _values):
            record_update(session, slug=slug, key=key, status="acknowledged", now=now, rules=rules, actor=scope.agency,
                          mail_domain=mail_domain(settings.mail_from))

        return act(request, slug, key, t, csrf, "tiep-nhan", lambda now, scope: ({}, {}), apply)

    @app.post("/phan-hoi/{slug}/{key}/tien-do", response_class=HTMLResponse)
    def progress(request: Request, slug: str, key: str, t: str = Form(""), csrf: str = Form(""),
                 note: str = Form("")) -> Response:
        def validate(now, scope):
            errors = {}
            text = note.strip()
            if not text:
                errors["progress_note"] = "Vui lòng nêu nội dung đã thực hiện."
            elif len(text) > LIMITS["note"]:
                errors["progress_note"] = f"Nội dung dài quá {LIMITS['note']} ký tự."
            return errors, {"note": text, "_form": {"progress_note": note[: LIMITS["note"] * 2]}}

        def apply(session, scope, now, values):
            record_update(session, slug=slug, key=key, status="in_progress", now=now, rules=rules, actor=scope.agency,
                          note=values["note"], mail_domain=mail_domain(settings.mail_from))

        return act(request, slug, key, t, csrf, "tien-do", validate, apply)

    @app.post("/phan-hoi/{slug}/{key}/hoan-thanh", response_class=HTMLResponse)
    def report_done(request: Request, slug: str, key: str, t: str = Form(""), csrf: str = Form(""),
                    number: str = Form(""), document_date: str = Form(""), note: str = Form(""),
                    document: UploadFile | str | None = File(None)) -> Response:
        # A browser posts a file field with no file chosen as an empty, nameless part, which Starlette
        # hands over as a string: that is "no document", not a malformed request. What arrives as a file
        # is Starlette's UploadFile, of which FastAPI's is a subclass.
        saved: dict = {}

        def validate(now, scope):
            errors: dict = {}
            form = {"number": number[:500], "document_date": document_date[:20], "done_note": note[: LIMITS["note"] * 2]}
            text = number.strip()
            if not text:
                errors["number"] = "Vui lòng nhập số, ký hiệu văn bản báo cáo."
            elif len(text) > LIMITS["number"] or "\n" in text or "\r" in text:
                errors["number"] = f"Số, ký hiệu văn bản phải trên một dòng, tối đa {LIMITS['number']} ký tự."
            on = _parse_date(document_date)
            if on is None:
                errors["document_date"] = "Vui lòng nhập ngày văn bản hợp lệ (ngày/tháng/năm)."
            elif on > rules.today(now):
                errors["document_date"] = "Ngày văn bản không thể sau ngày hôm nay."
            elif on.year < 2000:
                errors["document_date"] = "Ngày văn bản không hợp lệ."
            if len(note.strip()) > LIMITS["note"]:
                errors["done_note"] = f"Ghi chú dài quá {LIMITS['note']} ký tự."
            if isinstance(document, ReceivedFile) and document.filename:
                problem = _store_document(document, upload_limit, Path(settings.state_dir) / "uploads" / slug / key,
                                          saved, dry_run=bool(errors))
                if problem:
                    errors["document"] = problem
            return errors, {"number": text, "on": on, "note": note.strip() or None, "_form": form}

        def apply(session, scope, now, values):
            record_update(session, slug=slug, key=key, status="done", now=now, rules=rules, actor=scope.agency,
                          evidence=values["number"], evidence_on=values["on"], note=values["note"],
                          attachment=saved or None, mail_domain=mail_domain(settings.mail_from))

        return act(request, slug, key, t, csrf, "hoan-thanh", validate, apply)

    @app.post("/phan-hoi/{slug}/{key}/gia-han", response_class=HTMLResponse)
    def ask_extension(request: Request, slug: str, key: str, t: str = Form(""), csrf: str = Form(""),
                      until: str = Form(""), reason: str = Form("")) -> Response:
        def validate(now, scope):
            errors = {}
            form = {"until": until[:20], "reason": reason[: LIMITS["note"] * 2]}
            on = _parse_date(until)
            if on is None:
                errors["until"] = "Vui lòng nhập ngày đề nghị gia hạn hợp lệ."
            elif on <= rules.today(now):
                errors["until"] = "Ngày đề nghị gia hạn phải sau ngày hôm nay."
            elif (on - rules.today(now)).days > 366:
                errors["until"] = "Không đề nghị gia hạn quá một năm."
            if not reason.strip():
                errors["reason"] = "Vui lòng nêu lý do đề nghị gia hạn."
            elif len(reason.strip()) > LIMITS["note"]:
                errors["reason"] = f"Lý do dài quá {LIMITS['note']} ký tự."
            return errors, {"until": on, "reason": reason.strip(), "_form": form}

        def apply(session, scope, now, values):
            request_extension(session, slug=slug, key=key, agency=scope.agency, until=values["until"],
                              reason=values["reason"], now=now, rules=rules, mail_domain=mail_domain(settings.mail_from))

        return act(request, slug, key, t, csrf, "gia-han", validate, apply)

    @app.get("/healthz", response_class=PlainTextResponse)
    def health() -> str:
        return "ok"

    return app


_EMPTY_FORM = {"number": "", "document_date": "", "done_note": "", "progress_note": "", "until": "", "reason": ""}


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _store_document(upload: UploadFile, limit: int, folder: Path, saved: dict, *, dry_run: bool) -> str | None:
    """Check an uploaded reply document and keep it under its SHA-256; returns a problem, or None."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in DOCUMENT_TYPES:
        return "Chỉ nhận tệp PDF, DOC, DOCX, JPG hoặc PNG."
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        return f"Tệp lớn quá {limit // (1024 * 1024)} MB."
    if not data:
        return "Tệp rỗng."
    if not data.startswith(DOCUMENT_TYPES[suffix]):
        return f"Nội dung tệp không phải là tệp {suffix[1:].upper()} hợp lệ."
    if dry_run:
        return None
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}{suffix}"
    if not target.exists():
        fd, temp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    saved.update(name=Path(upload.filename or "").name[:200], sha256=digest, size=len(data), path=str(target))
    return None
