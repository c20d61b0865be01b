"""The reply pages agencies reach from the signed links in their e-mail (FastAPI + Jinja2).

Every page works without JavaScript and on a phone. A request without a valid
link or form token gets a 403 page; invalid input re-renders the page with what
was typed and what is wrong, and nothing is written. Every other answer the
framework would give (404, 405, 413, 422, 500 …) is a Vietnamese page too, never
English JSON echoing the input.

The order of checks on a POST is the point of this module:

1. ``Guard`` (plain ASGI, before routing): the ``Origin`` header, the declared
   length, and a running count of the body's bytes as they arrive, whatever the
   transfer encoding; it also puts the security headers on every response.
2. The action's endpoint checks the link token and the form token, both in the
   query string, before it reads a single byte of the body: a request without
   them is refused without anything being spooled to disk.
3. Only then is the form parsed, with Starlette's limits on fields and files.
4. An uploaded document is written under a temporary name, and moved into place
   only once the transaction that records the action has committed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as ReceivedFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.store.db import transaction
from models.errors import DatabaseUnavailable, InputError
from models.lifecycle.extensions import pending_for, request_extension
from models.lifecycle.planning import mail_domain
from models.lifecycle.queries import agencies_of, agency_map, events_of, get_assignment
from models.settings import Settings, get_settings
from models.lifecycle.status import FLAG_LABELS, LABELS, OPEN, standing, due_text
from models.store.tables import Notification
from models.textcheck import problem, shown
from models.calendar.timerules import TimeRules, wall_clock
from models.lifecycle.refusal import DECLINE_WORDS, decline
from models.lifecycle.updates import early_evidence, record_update
from notifications.context import describe_event
from notifications.links import LinkRefused, LinkScope, ReplyLinks, key_of_url, secret_key, url_key
from notifications.wording import RUNG_LABELS, weekday_date

log = logging.getLogger(__name__)

CSRF_COOKIE = "dondoc_csrf"
LIMITS = {"number": 120, "note": 2000}
# What a request may carry besides the document: the form's text fields (a 2,000-character note is at most
# 8 kB in UTF-8) and the multipart framing, with room to spare.
FORM_ALLOWANCE = 256 * 1024
FIELD_MAX_BYTES = 64 * 1024  # one text field
FIELDS_MAX = 16  # the largest form has four fields; old pages also posted t and csrf
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
           "gia-han": "Đã gửi đề nghị gia hạn; cơ quan giao nhiệm vụ sẽ thông báo quyết định qua thư.",
           "tu-choi": "Đã gửi lời từ chối; cơ quan giao nhiệm vụ sẽ thông báo quyết định qua thư."}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BAD_REQUEST = ("Yêu cầu không hợp lệ",
               "Dữ liệu gửi lên không đúng biểu mẫu của trang phản hồi. Vui lòng mở lại đường dẫn trong thư và nhập lại.")
ERRORS = {  # status → (title, what the agency reads)
    400: BAD_REQUEST,
    404: ("Không tìm thấy trang",
          "Địa chỉ này không có trên hệ thống. Vui lòng dùng đúng đường dẫn trong thư điện tử gửi đến đơn vị."),
    405: ("Thao tác không được hỗ trợ",
          "Địa chỉ này không nhận thao tác vừa gửi. Vui lòng mở lại đường dẫn trong thư và dùng các nút trên trang."),
    422: BAD_REQUEST,
    500: ("Lỗi hệ thống",
          "Hệ thống gặp lỗi khi xử lý yêu cầu; thông tin chưa được ghi nhận. Vui lòng thử lại sau ít phút; "
          "nếu vẫn lỗi, đề nghị liên hệ cơ quan giao nhiệm vụ."),
    503: ("Tạm thời gián đoạn",
          "Hệ thống tạm thời không truy cập được dữ liệu; vui lòng thử lại sau ít phút."),
}
OTHER_ERROR = ("Không xử lý được yêu cầu", "Hệ thống không xử lý được yêu cầu này. Vui lòng mở lại đường dẫn trong thư.")


class Refused(Exception):
    pass


class BodyTooLarge(Exception):
    """Raised from ``receive`` the moment the body passes the limit; ``Guard`` answers 413."""


@dataclass(frozen=True)
class Link:
    """A verified reply link, with the directive facts the forms check against."""

    scope: LinkScope
    number: str
    issued_on: date


class AssignmentKey(Convertor):
    """An assignment key in a reply link's path: an occurrence's ``/`` travels as ``~`` (notifications/links.py)."""

    regex = "[a-z0-9][a-z0-9~-]*"

    def convert(self, value: str) -> str:
        return key_of_url(value)

    def to_string(self, value: str) -> str:
        return url_key(value)


register_url_convertor("akey", AssignmentKey())


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
    uploads = Path(settings.state_dir) / "uploads"
    # No /docs, /redoc or /openapi.json: the reply pages are the only public surface.
    app = FastAPI(title="dondoc — trang phản hồi", docs_url=None, redoc_url=None, openapi_url=None)

    def html(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(**context), status_code=status)

    def refused(reason: str, title: str = "Không mở được trang phản hồi") -> HTMLResponse:
        return html("refused.html", 403, title=title, reason=reason)

    def error_page(status: int, reason: str | None = None, headers: dict | None = None) -> HTMLResponse:
        title, text = ERRORS.get(status, OTHER_ERROR)
        response = html("error.html", status, title=title, reason=reason or text)
        response.headers.update(headers or {})
        return response

    def guard_page(status: int) -> HTMLResponse:
        if status == 403:
            return refused("Yêu cầu bị từ chối vì được gửi từ một trang web khác. Vui lòng mở đường dẫn trong thư "
                           "và gửi biểu mẫu ngay trên trang phản hồi.", title="Không ghi nhận được")
        if status == 413:
            return html("error.html", 413, title="Dữ liệu gửi lên quá lớn",
                        reason=f"Dữ liệu gửi lên vượt quá giới hạn {settings.upload_max_mb:g} MB của tệp văn bản "
                               "cộng phần nội dung biểu mẫu. Vui lòng gửi tệp nhỏ hơn.")
        return error_page(status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The framework's own answers (no such page, wrong method …): the page, never its English JSON.
        return error_page(exc.status_code, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's 422 body would echo the input back; say what it means instead.
        return error_page(422)

    def check_link(token: str, slug: str, key: str, now: datetime) -> Link:
        try:
            scope = links.verify(token, slug=slug, key=key, now=now)
        except LinkRefused as exc:
            raise Refused(str(exc)) from None
        with transaction(settings) as session:
            try:
                directive, assignment = get_assignment(session, slug=slug, key=key)
            except Exception:
                raise Refused("Nhiệm vụ không còn tồn tại.") from None
            if assignment.id != scope.assignment_id:
                raise Refused("Đường dẫn này dành cho một nhiệm vụ khác.")
            if scope.agency not in agencies_of(session, [assignment.id])[assignment.id]["lead"]:
                raise Refused("Đơn vị của đường dẫn này không còn là đơn vị chủ trì nhiệm vụ.")
            return Link(scope=scope, number=directive.number, issued_on=directive.issued_on)

    def check_csrf(request: Request, value: str, scope: LinkScope) -> None:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        try:
            data = csrf.loads(value or "")
        except BadSignature:
            raise Refused("Phiên làm việc không hợp lệ (thiếu hoặc sai mã kiểm tra biểu mẫu). Vui lòng mở lại đường dẫn trong thư.") from None
        if (not isinstance(data, dict) or not nonce or data.get("n") != nonce or data.get("a") != scope.assignment_id
                or data.get("g") != scope.agency):
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
                assignment={"title": assignment.title, "action": assignment.action, "due": weekday_date(assignment.due) if assignment.due else due_text(None, assignment.due_in),
                            "status": LABELS[assignment.status], "flag": flag, "colour": s.colour,
                            "leads": [names.get(c, c) for c in roles["lead"]],
                            "supporting": [names.get(c, c) for c in roles["supporting"]],
                            "evidence": (assignment.evidence or "") + (f" ngày {assignment.evidence_on:%d/%m/%Y}" if assignment.evidence_on else "")},
                agency=names.get(scope.agency, scope.agency),
                open=assignment.status in OPEN and directive.status == "active",
                can_acknowledge=assignment.status == "assigned",
                returned=returned_view(session, assignment) if assignment.status in OPEN else None,
                state=assignment.status, decline_words=DECLINE_WORDS,
                pending={"until": f"{request_pending.until:%d/%m/%Y}", "reason": request_pending.reason} if request_pending else None,
                history=[{"at": f"{at.astimezone(rules.tz):%d/%m/%Y %H:%M}", "actor": actor, "text": text}
                         for at, actor, text in sorted(history, key=lambda h: h[0])],
            )
        # Both tokens travel in the query string of each form's action, so that an action's endpoint can refuse a
        # request before reading its body (a multipart body is spooled to disk as it is parsed). The link token is
        # already in the page's own URL; the form token is no secret from the page either: it only has to be one an
        # attacker's page cannot produce, and it is bound to the cookie nonce (SameSite=Strict, HttpOnly), the
        # assignment and the agency. A URL can leak through logs and the Referer header: the app logs no URLs,
        # pages send `Referrer-Policy: no-referrer` and load nothing from elsewhere.
        form_query = urlencode({"t": token, "csrf": csrf.dumps({"n": nonce, "a": scope.assignment_id, "g": scope.agency})})
        response = html("reply.html", status, token=token, base=f"/phan-hoi/{quote(scope.slug)}/{quote(url_key(scope.key), safe='~')}",
                        form_query=form_query, errors=errors or {}, form={**_EMPTY_FORM, **(form or {})},
                        notice=notice, limits={**LIMITS, "upload_mb": f"{settings.upload_max_mb:g}"}, **context)
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure_cookie,
                            path="/phan-hoi")
        return response

    def done_redirect(scope: LinkScope, token: str, action: str) -> RedirectResponse:
        return RedirectResponse(f"/phan-hoi/{quote(scope.slug)}/{quote(url_key(scope.key), safe='~')}?{urlencode({'t': token, 'ok': action})}",
                                status_code=303)

    async def act(request: Request, slug: str, key: str, token: str, csrf_value: str, action: str, *,
                  fields: dict[str, tuple[str, str]], validate: Callable, apply: Callable,
                  document: str | None = None) -> Response:
        """One form action: tokens first, then the form, then the write (with its document, if any)."""
        now = now_of()
        try:
            link = await run_in_threadpool(check_link, token, slug, key, now)
            check_csrf(request, csrf_value, link.scope)
        except Refused as exc:
            return refused(str(exc))
        # Only now is the body read.
        form: FormData | None = None
        try:
            try:
                form = await request.form(max_files=1 if document else 0, max_fields=FIELDS_MAX,
                                          max_part_size=FIELD_MAX_BYTES)
            except StarletteHTTPException as exc:
                values, errors = _form_values(FormData(), fields, document)
                errors["_"] = _form_problem(exc.detail)
            else:
                values, errors = _form_values(form, fields, document)
            return await run_in_threadpool(finish, request, link, token, now, action, values, errors, validate, apply,
                                           document)
        finally:
            if form is not None:
                await form.close()

    def finish(request: Request, link: Link, token: str, now: datetime, action: str, values: dict, errors: dict,
               validate: Callable, apply: Callable, document: str | None) -> Response:
        checked, clean, echo = validate(now, link, values)
        errors = {**checked, **errors}  # a field that arrived as a file says so, rather than "empty"
        upload = values.get(document) if document else None
        if upload is not None and "document" not in errors:
            if bad := _check_document(upload, upload_limit):
                errors["document"] = bad
        if not errors:
            staged = _stage_document(upload, uploads / link.scope.slug / link.scope.key) if upload is not None else None
            try:
                with transaction(settings) as session:
                    apply(session, link.scope, now, clean, staged.record if staged else None)
                if staged:
                    staged.keep()  # committed: the event now names this file
            except InputError as exc:
                errors = {"_": _sentence(str(exc))}
            finally:
                if staged:
                    staged.discard()
        if errors:
            return render_page(request, link.scope, token, now, status=400, errors=errors, form=echo)
        return done_redirect(link.scope, token, action)

    @app.get("/phan-hoi/{slug}/{key:akey}", response_class=HTMLResponse)
    def reply_page(request: Request, slug: str, key: str, t: str = Query(""), ok: str = Query("")) -> Response:
        now = now_of()
        try:
            link = check_link(t, slug, key, now)
        except Refused as exc:
            return refused(str(exc))
        return render_page(request, link.scope, t, now, notice=ACTIONS.get(ok))

    @app.post("/phan-hoi/{slug}/{key:akey}/tiep-nhan", response_class=HTMLResponse)
    async def acknowledge(request: Request, slug: str, key: str, t: str = Query(""), csrf: str = Query("")) -> Response:
        def apply(session, scope, now, _values, _attachment):
            record_update(session, slug=slug, key=key, status="acknowledged", now=now, rules=rules, actor=scope.agency,
                          mail_domain=mail_domain(settings.mail_from))

        return await act(request, slug, key, t, csrf, "tiep-nhan", fields={},
                         validate=lambda now, link, values: ({}, {}, {}), apply=apply)

    @app.post("/phan-hoi/{slug}/{key:akey}/tien-do", response_class=HTMLResponse)
    async def progress(request: Request, slug: str, key: str, t: str = Query(""), csrf: str = Query("")) -> Response:
        def validate(now, link, values):
            errors = {}
            note = values["note"]
            text = note.strip()
            if not text:
                errors["progress_note"] = "Vui lòng nêu nội dung đã thực hiện."
            elif len(text) > LIMITS["note"]:
                errors["progress_note"] = f"Nội dung dài quá {LIMITS['note']} ký tự."
            elif bad := problem(note, "note"):
                errors["progress_note"] = f"Nội dung đã thực hiện {bad}."
            return errors, {"note": text}, {"progress_note": note[: LIMITS["note"] * 2]}

        def apply(session, scope, now, values, _attachment):
            record_update(session, slug=slug, key=key, status="in_progress", now=now, rules=rules, actor=scope.agency,
                          note=values["note"], mail_domain=mail_domain(settings.mail_from))

        return await act(request, slug, key, t, csrf, "tien-do", fields={"note": ("progress_note", "Nội dung đã thực hiện")},
                         validate=validate, apply=apply)

    @app.post("/phan-hoi/{slug}/{key:akey}/hoan-thanh", response_class=HTMLResponse)
    async def report_done(request: Request, slug: str, key: str, t: str = Query(""), csrf: str = Query("")) -> Response:
        def validate(now, link, values):
            errors: dict = {}
            number, document_date, note = values["number"], values["document_date"], values["note"]
            echo = {"number": number[:500], "document_date": document_date[:20], "done_note": note[: LIMITS["note"] * 2]}
            text = number.strip()
            if not text:
                errors["number"] = "Vui lòng nhập số, ký hiệu văn bản báo cáo."
            elif bad := problem(number.strip(" "), "number"):
                errors["number"] = f"Số, ký hiệu văn bản {bad}."
            elif len(text) > LIMITS["number"]:
                errors["number"] = f"Số, ký hiệu văn bản phải trên một dòng, tối đa {LIMITS['number']} ký tự."
            on = _parse_date(document_date)
            if bad := problem(document_date, "line"):
                errors["document_date"] = f"Ngày văn bản {bad}."
            elif on is None:
                errors["document_date"] = "Vui lòng nhập ngày văn bản hợp lệ (ngày/tháng/năm)."
            elif on > rules.today(now):
                errors["document_date"] = "Ngày văn bản không thể sau ngày hôm nay."
            elif on < link.issued_on:
                errors["document_date"] = _sentence(early_evidence(on, link.number, link.issued_on))
            if len(note.strip()) > LIMITS["note"]:
                errors["done_note"] = f"Ghi chú dài quá {LIMITS['note']} ký tự."
            elif bad := problem(note, "note"):
                errors["done_note"] = f"Ghi chú {bad}."
            return errors, {"number": text, "on": on, "note": note.strip() or None}, echo

        def apply(session, scope, now, values, attachment):
            record_update(session, slug=slug, key=key, status="done", now=now, rules=rules, actor=scope.agency, by_agency=True,
                          evidence=values["number"], evidence_on=values["on"], note=values["note"],
                          attachment=attachment, mail_domain=mail_domain(settings.mail_from))

        return await act(request, slug, key, t, csrf, "hoan-thanh",
                         fields={"number": ("number", "Số, ký hiệu văn bản"),
                                 "document_date": ("document_date", "Ngày văn bản"),
                                 "note": ("done_note", "Ghi chú")},
                         validate=validate, apply=apply, document="document")

    @app.post("/phan-hoi/{slug}/{key:akey}/gia-han", response_class=HTMLResponse)
    async def ask_extension(request: Request, slug: str, key: str, t: str = Query(""), csrf: str = Query("")) -> Response:
        def validate(now, link, values):
            errors = {}
            until, reason = values["until"], values["reason"]
            echo = {"until": until[:20], "reason": reason[: LIMITS["note"] * 2]}
            on = _parse_date(until)
            if bad := problem(until, "line"):
                errors["until"] = f"Ngày đề nghị gia hạn {bad}."
            elif on is None:
                errors["until"] = "Vui lòng nhập ngày đề nghị gia hạn hợp lệ."
            elif on <= rules.today(now):
                errors["until"] = "Ngày đề nghị gia hạn phải sau ngày hôm nay."
            elif (on - rules.today(now)).days > 366:
                errors["until"] = "Không đề nghị gia hạn quá một năm."
            if not reason.strip():
                errors["reason"] = "Vui lòng nêu lý do đề nghị gia hạn."
            elif len(reason.strip()) > LIMITS["note"]:
                errors["reason"] = f"Lý do dài quá {LIMITS['note']} ký tự."
            elif bad := problem(reason, "note"):
                errors["reason"] = f"Lý do {bad}."
            return errors, {"until": on, "reason": reason.strip()}, echo

        def apply(session, scope, now, values, _attachment):
            request_extension(session, slug=slug, key=key, agency=scope.agency, until=values["until"],
                              reason=values["reason"], now=now, rules=rules, mail_domain=mail_domain(settings.mail_from))

        return await act(request, slug, key, t, csrf, "gia-han",
                         fields={"until": ("until", "Ngày đề nghị gia hạn"), "reason": ("reason", "Lý do")},
                         validate=validate, apply=apply)

    @app.post("/phan-hoi/{slug}/{key:akey}/tu-choi", response_class=HTMLResponse)
    async def decline_assignment(request: Request, slug: str, key: str, t: str = Query(""), csrf: str = Query("")) -> Response:
        def validate(now, link, values):
            errors = {}
            reason = values["reason"]
            echo = {"decline_reason": reason[: LIMITS["note"] * 2]}
            if not reason.strip():
                errors["decline_reason"] = "Vui lòng nêu lý do từ chối."
            elif len(reason.strip()) > LIMITS["note"]:
                errors["decline_reason"] = f"Lý do dài quá {LIMITS['note']} ký tự."
            elif bad := problem(reason, "note"):
                errors["decline_reason"] = f"Lý do {bad}."
            return errors, {"reason": reason.strip()}, echo

        def apply(session, scope, now, values, _attachment):
            decline(session, slug=slug, key=key, agency=scope.agency, reason=values["reason"], now=now, rules=rules,
                    mail_domain=mail_domain(settings.mail_from))

        return await act(request, slug, key, t, csrf, "tu-choi", fields={"reason": ("decline_reason", "Lý do")},
                         validate=validate, apply=apply)

    @app.get("/healthz", response_class=PlainTextResponse)
    def health() -> str:
        return "ok"

    style = pages.get_template("reply.css").render()
    app.add_middleware(Guard, limit=upload_limit + FORM_ALLOWANCE, own_origin=_origin(settings.public_url),
                       headers=security_headers(style), page=guard_page)
    return app


def security_headers(style: str) -> list[tuple[bytes, bytes]]:
    """What every response carries. The pages run no script and load nothing: their one inline style is allowed
    by its hash, forms may post only to this site, and no other site may frame them (clickjacking)."""
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    policy = (f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; base-uri 'none'; "
              "frame-ancestors 'none'")
    return [(b"content-security-policy", policy.encode("ascii")),
            (b"referrer-policy", b"no-referrer"),  # the page's URL is the agency's credential
            (b"cache-control", b"no-store"),  # nor may a shared computer's cache keep a page or its tokens
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY")]  # frame-ancestors for browsers that predate it


class Guard:
    """Plain ASGI middleware in front of the routes: it runs before any of the body is read.

    - A request whose ``Origin`` header names another site is refused with a 403 page. A missing Origin is
      allowed (old clients send none), and so is ``null``: under ``Referrer-Policy: no-referrer`` browsers send
      ``Origin: null`` with a form posted from our own page (seen in chromium). In both cases the form token,
      bound to a SameSite=Strict cookie, still has to match.
    - The body is counted as it arrives, chunked or not, and cut off past ``limit`` with a 413 page; a declared
      Content-Length past the limit is refused before anything is read.
    - Every response gets the security headers, error pages included; an exception nobody handled becomes the
      500 page here (it is still raised, so the server logs it).
    """

    def __init__(self, app: ASGIApp, *, limit: int, own_origin: str | None, headers: list[tuple[bytes, bytes]],
                 page: Callable[[int], Response]):
        self.app, self.limit, self.own_origin, self.page = app, limit, own_origin, page
        self.headers = headers
        self.replaced = {name for name, _ in headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.replaced]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        async def answer(status: int) -> None:
            await self.page(status)(scope, receive, send_with_headers)

        request_headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if scope["method"] not in SAFE_METHODS and not self._same_site(scope, request_headers):
            await answer(403)
            return
        declared = request_headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await answer(400)
                return
            if int(declared) > self.limit:
                await answer(413)
                return

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counted, send_with_headers)
        except BodyTooLarge:
            if not started:
                await answer(413)
        except ClientDisconnect:
            pass  # nobody is left to answer
        except DatabaseUnavailable as exc:
            log.warning("database unavailable: %s", exc)
            if not started:
                await answer(503)
        except Exception:
            if not started:
                await answer(500)
            raise

    def _same_site(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin")
        if origin is None:
            return True
        value = origin.decode("latin-1").strip().lower()
        if value == "null":
            return True
        allowed = {self.own_origin}
        host = headers.get(b"host")
        if host:  # the address this request came to, as the browser saw it
            allowed.add(_origin(f"{scope.get('scheme', 'http')}://{host.decode('latin-1')}"))
        return _origin(value) in allowed - {None}


def _origin(url: str) -> str | None:
    """scheme://host[:port], lower case, without the scheme's default port; None if ``url`` has no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


_EMPTY_FORM = {"number": "", "document_date": "", "done_note": "", "progress_note": "", "until": "", "reason": "", "decline_reason": ""}


def _sentence(text: str) -> str:
    """A model's message (lower case, no full stop) as a sentence on the page."""
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _form_problem(detail: str) -> str:
    """Starlette's English reason for refusing a form, as the agency should read it."""
    if "files" in detail:
        return "Biểu mẫu chỉ nhận một tệp, ở mục «Tệp văn bản»; vui lòng nhập các mục khác dưới dạng chữ."
    if "maximum size" in detail:
        return "Một mục của biểu mẫu dài quá giới hạn cho phép; vui lòng rút gọn nội dung."
    if "fields" in detail:
        return "Biểu mẫu gửi lên có quá nhiều mục; vui lòng mở lại đường dẫn trong thư và nhập lại."
    return "Biểu mẫu gửi lên không đọc được; vui lòng mở lại đường dẫn trong thư và nhập lại."


def _form_values(form: FormData, fields: dict[str, tuple[str, str]], document: str | None) -> tuple[dict, dict]:
    """The text fields as strings and the document as an upload (or None), and what arrived in the wrong shape."""
    values: dict = {}
    errors: dict = {}
    for name, (error_key, label) in fields.items():
        value = form.get(name)
        if isinstance(value, ReceivedFile):
            errors[error_key] = f"{label} phải được nhập dưới dạng chữ, không phải tệp."
            value = ""
        values[name] = value or ""
    if document:
        # A browser posts a file field with no file chosen as a part with an empty file name and no content:
        # that is "no document". A plain text part under that name is no document either.
        upload = form.get(document)
        values[document] = upload if isinstance(upload, ReceivedFile) and (upload.filename or upload.size) else None
    return values, errors


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _check_document(upload: ReceivedFile, limit: int) -> str | None:
    """What is wrong with an uploaded reply document, or None. Nothing is written."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in DOCUMENT_TYPES:
        return "Chỉ nhận tệp PDF, DOC, DOCX, JPG hoặc PNG."
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    if size > limit:
        return f"Tệp lớn quá {limit / (1024 * 1024):g} MB."
    if not size:
        return "Tệp rỗng."
    head = upload.file.read(16)
    upload.file.seek(0)
    if not head.startswith(DOCUMENT_TYPES[suffix]):
        return f"Nội dung tệp không phải là tệp {suffix[1:].upper()} hợp lệ."
    return None


@dataclass
class StagedDocument:
    """A checked upload, written under a temporary name beside the place it will have.

    It is moved into place (``keep``) only after the transaction recording the action has committed, so a
    refused or failed action leaves no file behind (``discard``). The final name is the content's SHA-256: moving
    the same content there twice is harmless. Should the process die between the commit and the move, the event
    still holds the document's hash and size, and the temporary file (named ``.incoming-*``) may be swept away.
    """

    temp: Path
    target: Path
    record: dict

    def keep(self) -> None:
        os.replace(self.temp, self.target)

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def _stage_document(upload: ReceivedFile, folder: Path) -> StagedDocument:
    suffix = Path(upload.filename or "").suffix.lower()
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as handle:
            upload.file.seek(0)
            while chunk := upload.file.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    target = folder / f"{digest.hexdigest()}{suffix}"
    # The name is the agency's, kept for the record: shown() turns anything invisible into visible codes.
    name = shown((upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1])[:200]
    return StagedDocument(temp=Path(temp), target=target,
                          record={"name": name, "sha256": digest.hexdigest(), "size": size, "path": str(target)})



def returned_view(session, assignment) -> dict | None:
    """The last decision on the assignment's reported result, when it was a return: its day and reason."""
    from sqlmodel import select

    from models.store.tables import Event

    last = session.exec(select(Event).where(Event.assignment_id == assignment.id,
                                            Event.kind.in_(("reviewed", "returned"))).order_by(Event.id.desc())).first()
    if last is None or last.kind != "returned":
        return None
    return {"reason": last.payload.get("reason", ""), "reported_on": f"{date.fromisoformat(last.payload['reported_on']):%d/%m/%Y}"}
