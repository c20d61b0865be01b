"""What a template needs to render one outbox row, loaded for a whole batch at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from models.lifecycle.deliveries import failures
from models.lifecycle.queries import agencies_of, agency_map, status_rows
from models.lifecycle.status import FLAG_LABELS, LABELS, OPEN, standing, waiting_text
from models.calendar.periods import by_name, schedule_text
from models.store.tables import Assignment, AssignmentAgency, Directive, Event, ExtensionRequest, Notification, Registry, Series
from models.calendar.timerules import TimeRules
from notifications.envelopes import Envelope, earlier, split
from notifications.recipients import Person, Scope, resolve, split_to_cc
from notifications.wording import RUNG_LABELS, honorific, steps_taken

# (directive, assignment, lead agency code, now) -> {"page": url, "expires": date}
LinkMaker = Callable[[Directive, Assignment, str, datetime], dict[str, Any]]

COLOURS = {"red": "#b00", "orange": "#c60", "blue": "#036", "green": "#070", "grey": "#555"}


@dataclass
class Prepared:
    row_id: int
    message_id: str
    key: str
    rung: str
    template: str
    slug: str
    assignment_key: str | None
    to: list[Person]  # whom the row addresses, as resolved now (the letter's "Kính gửi")
    cc: list[Person]
    context: dict[str, Any] = field(default_factory=dict)
    calendar: dict[str, Any] | None = None  # due-date data for the .ics attachment
    envelopes: list[Envelope] = field(default_factory=list)  # the messages it goes out as
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)  # every envelope's record from earlier attempts

    @property
    def owed(self) -> list[Envelope]:
        """The envelopes this attempt sends."""
        return [e for e in self.envelopes if e.owed]


class BatchContext:
    """Loads directives, assignments, agencies and history for many rows in a few queries."""

    def __init__(self, session: Session, rows: list[Notification], *, now: datetime, rules: TimeRules,
                 links: LinkMaker | None = None):
        self.session, self.now, self.rules, self.links = session, now, rules, links
        self.today = rules.today(now)
        directive_ids = {r.directive_id for r in rows if r.directive_id is not None}
        assignment_ids = {r.assignment_id for r in rows if r.assignment_id}
        self.directives = {d.id: d for d in session.exec(select(Directive).where(Directive.id.in_(directive_ids))).all()}
        self.assignments = {a.id: a for a in session.exec(select(Assignment).where(Assignment.id.in_(assignment_ids))).all()}
        self.roles = agencies_of(session, sorted(assignment_ids))
        series_ids = {a.series_id for a in self.assignments.values() if a.series_id}
        self.series = {s.id: s for s in session.exec(select(Series).where(Series.id.in_(series_ids))).all()} \
            if series_ids else {}
        self.agencies = agency_map(session)
        self.offices = {r.name: r.provincial_office for r in session.exec(select(Registry)).all()}
        self.history: dict[int, list[Notification]] = defaultdict(list)
        if assignment_ids:
            sent = session.exec(
                select(Notification)
                .where(Notification.assignment_id.in_(assignment_ids), Notification.state == "sent")
                .order_by(Notification.due_at)
            ).all()
            for row in sent:
                self.history[row.assignment_id].append(row)
        # Rows of this batch about one assignment leave in order (dispatch), so a row's text may count those
        # before it as sent today: caught up after downtime, the escalation goes just before the report-up.
        self.before: dict[int, list[Notification]] = {}
        going: dict[int, list[Notification]] = defaultdict(list)
        for row in rows:
            if row.assignment_id:
                self.before[row.id] = list(going[row.assignment_id])
                going[row.assignment_id].append(row)
        self._participants: dict[int, tuple[str, ...]] = {}

    def prepare(self, row: Notification) -> Prepared:
        if row.directive_id is None:  # a coordinator's daily digest: all the directives it issued
            return self.prepare_digest(row)
        directive = self.directives[row.directive_id]
        assignment = self.assignments.get(row.assignment_id) if row.assignment_id else None
        roles = self.roles.get(assignment.id, {"lead": [], "supporting": []}) if assignment else {"lead": [], "supporting": []}
        scope = Scope(
            issuer=directive.issuer,
            provincial_office=self.offices.get(directive.registry_name),
            # An acknowledgement reminder is one lead's own letter (with a copy to the coordinator).
            leads=(row.payload["lead"],) if row.rung == "unacknowledged" and row.payload.get("lead") else tuple(roles["lead"]),
            supporting=tuple(roles["supporting"]),
            participants=self.participants(directive) if "participants" in row.to_audience + row.cc_audience else (),
        )
        to, cc = split_to_cc(resolve(row.to_audience, scope, self.agencies), resolve(row.cc_audience, scope, self.agencies))
        history = self.sent_before(row)
        context = {
            "directive": self.directive_view(directive),
            "assignment": self.assignment_view(assignment, roles) if assignment else None,
            "addressees": [p.name for p in to],
            "you": _you(to),
            "today": self.today,
            "signature": self.signature(directive),
            "history": [{"label": RUNG_LABELS.get(h.rung, h.rung), "on": on} for h, on in history],
            "steps": steps_taken(h.rung for h, _ in history),
            "link": None,  # set only in the message to the one lead agency it belongs to
            "copy": None,  # in the copy: the lead agencies that received their own link
        }
        # Each lead agency's message is a letter to it alone; only that message carries its link.
        previous = earlier(row.recipients)
        envelopes = split(to, cc, leads=roles["lead"], key=row.key, message_id=row.message_id, earlier=previous)
        linked = bool(assignment and self.links and assignment.status in OPEN)
        mine = [e for e in envelopes if e.lead]
        for envelope in mine:
            lead = envelope.to[0]
            envelope.context = {"addressees": [lead.name], "you": _you([lead])}
            if linked:
                envelope.context["link"] = {"agency": lead.name, **self.links(directive, assignment, lead.agency, self.now)}
        if linked and mine:
            copy = {"leads": [e.to[0].name for e in mine]}
            for envelope in envelopes:
                if not envelope.lead:
                    envelope.context = {"copy": copy}
        if row.template == "extension-request":
            request = self.session.get(ExtensionRequest, row.payload["request"])
            context["extension"] = {"agency": self.name(request.agency_code), "until": request.until,
                                    "reason": request.reason}
        if row.template in ("declined", "decline-refused"):
            refusing = row.payload.get("agency")
            context["refusal"] = {**row.payload, "agency_name": self.name(refusing) if refusing else None}
        if row.template == "unacknowledged":
            context["notice_on"] = _date(row.payload.get("notice_on"))
        if row.template in ("accepted", "returned", "review-request"):
            context["review"] = {**row.payload, "reported_date": _date(row.payload.get("reported_on")),
                                 "previous_date": _date(row.payload.get("previous_due")),
                                 "reported_on": assignment.reported_on if assignment else None,
                                 "evidence": assignment.evidence if assignment else None,
                                 "evidence_on": assignment.evidence_on if assignment else None}
        if row.template == "extension-decision":
            context["decision"] = {**row.payload, "previous_date": _date(row.payload.get("previous"))}
        if row.template == "closed":
            context["closing"] = self.closing(directive)
        calendar = None
        if assignment and row.rung in ("notice", "reminder", "due-soon"):
            calendar = {"uid": f"{directive.slug}.{assignment.key}", "due": assignment.due, "title": assignment.title,
                        "action": assignment.action, "number": directive.number,
                        "sequence": self.extensions(assignment)}
        return Prepared(row_id=row.id, message_id=row.message_id, key=row.key, rung=row.rung, template=row.template,
                        slug=directive.slug, assignment_key=assignment.key if assignment else None, to=to, cc=cc,
                        context=context, calendar=calendar, envelopes=envelopes, settled=previous)

    def sent_before(self, row: Notification) -> list[tuple[Notification, date]]:
        """What the assignment was sent before this row, each with the day it was sent (not the day planned)."""
        sent = [(h, h.sent_at.astimezone(self.rules.tz).date() if h.sent_at else h.on)
                for h in self.history.get(row.assignment_id, []) if h.id != row.id]
        return sent + [(h, self.today) for h in self.before.get(row.id, [])]

    def participants(self, directive: Directive) -> tuple[str, ...]:
        if directive.id not in self._participants:
            codes = self.session.exec(
                select(AssignmentAgency.agency_code)
                .join(Assignment, Assignment.id == AssignmentAgency.assignment_id)
                .where(Assignment.directive_id == directive.id)
                .order_by(AssignmentAgency.role, Assignment.id, AssignmentAgency.position)
            ).all()
            self._participants[directive.id] = tuple(dict.fromkeys(codes))
        return self._participants[directive.id]

    def name(self, code: str) -> str:
        agency = self.agencies.get(code)
        return agency.name if agency else code

    def directive_view(self, directive: Directive) -> dict[str, Any]:
        issuer = self.agencies.get(directive.issuer)
        return {"number": directive.number, "slug": directive.slug, "subject": directive.subject,
                "issued_on": directive.issued_on, "place": directive.place,
                "issuer_name": issuer.name if issuer else directive.issuer,
                "issuer_email": issuer.email if issuer else ""}

    def assignment_view(self, assignment: Assignment, roles: dict[str, list[str]]) -> dict[str, Any]:
        s = standing(status=assignment.status, due=assignment.due, done_on=assignment.done_on, today=self.today,
                     calendar=self.rules.calendar)
        overdue = s.overdue_working_days if s.overdue_working_days is not None else 0
        return {"key": assignment.key, "title": assignment.title, "action": assignment.action, "due": assignment.due,
                "overdue": overdue, "status_label": LABELS[assignment.status],
                "leads": [self.name(c) for c in roles["lead"]], "supporting": [self.name(c) for c in roles["supporting"]],
                "period": self.period_view(assignment)}

    def period_view(self, assignment: Assignment) -> dict[str, Any] | None:
        """An occurrence of a recurring report: its period, its data window and the schedule it belongs to."""
        series = self.series.get(assignment.series_id) if assignment.series_id else None
        if series is None:
            return None
        p = by_name(series.every, assignment.period, report_day=series.report_day, window=series.window,
                    calendar=self.rules.calendar)
        return {"label": p.label if p else assignment.period,
                "window": (f"số liệu từ ngày {assignment.window_from:%d/%m/%Y} "
                           f"đến ngày {assignment.window_to:%d/%m/%Y}"),
                "schedule": schedule_text(series.every, series.report_day, series.window)}

    def signature(self, directive: Directive) -> dict[str, Any]:
        configured = directive.definition.get("signature")
        if configured:
            return {"authority": configured.get("authority"), "title": configured["title"], "name": configured["name"]}
        issuer = self.agencies.get(directive.issuer)
        return {"authority": None, "title": (issuer.head_title if issuer else "").upper(),
                "name": (issuer.head_name or "") if issuer else ""}

    def extensions(self, assignment: Assignment) -> int:
        return len(self.session.exec(
            select(Event.id).where(Event.assignment_id == assignment.id, Event.kind == "extended")).all())

    def rows_view(self, directive: Directive) -> list[dict[str, Any]]:
        rows = status_rows(self.session, directive=directive, now=self.now, rules=self.rules)
        return [{"key": r.key, "title": r.title, "leads": [self.name(c) for c in r.leads], "due": r.due,
                 "state": FLAG_LABELS[r.flag] + (f" {r.overdue_working_days} ngày" if r.flag == "overdue" else
                                                 f" ({waiting_text(r.waiting_for)})" if r.waiting_for else ""),
                 "flag": r.flag, "colour": COLOURS[r.colour], "evidence": r.evidence} for r in rows]

    def prepare_digest(self, row: Notification) -> Prepared:
        """One coordinator's digest: what agencies did, what waits on it, what is overdue or due this week, what
        did not arrive, and the year's figures by agency (the scorecard's own function)."""
        from models.oversight.digest import gather, last_digest
        from models.oversight.figures import figures

        issuer = row.payload["issuer"]
        agency = self.agencies.get(issuer)
        scope = Scope(issuer=issuer, provincial_office=None)
        to, cc = split_to_cc(resolve(row.to_audience, scope, self.agencies), resolve(row.cc_audience, scope, self.agencies))
        found = gather(self.session, issuer, since=last_digest(self.session, issuer), now=self.now, rules=self.rules)
        year = (date(self.today.year, 1, 1), date(self.today.year, 12, 31))
        scores = figures(self.session, span=year, now=self.now, rules=self.rules, issuer=issuer,
                         details=False)
        name = agency.name if agency else issuer
        context = {
            "directive": {"issuer_name": name, "issuer_email": agency.email if agency else "", "number": None,
                          "slug": None},
            "assignment": None,
            "addressees": [p.name for p in to],
            "you": _you(to),
            "today": self.today,
            "signature": {"authority": None, "title": "HỆ THỐNG THEO DÕI, ĐÔN ĐỐC NHIỆM VỤ", "name": ""},
            "history": [], "steps": [], "link": None, "copy": None,
            "digest": {
                "since": found.since.astimezone(self.rules.tz) if found.since else None,
                "directives": found.directives,
                "totals": scores.totals,
                "year": self.today.year,
                "agencies": [{"name": r.name, "on_time": r.on_time, "late": r.late, "open_in_time": r.open_in_time,
                              "open_overdue": r.open_overdue, "rate": r.completion_rate, "rating": r.rating}
                             for r in scores.rows if r.open_overdue or r.late][:15],
                "changes": [{"at": f"{c['event'].at.astimezone(self.rules.tz):%d/%m %H:%M}", "number": c["number"],
                             "actor": self.name(c["event"].actor) if c["event"].actor in self.agencies else c["event"].actor,
                             "text": describe_event(c["event"], c["key"])} for c in found.changes],
                "more_changes": found.more_changes,
                "waiting": [{**w, "leads": [self.name(c) for c in w["leads"]]} for w in found.waiting],
                "overdue": [{**o, "leads": [self.name(c) for c in o["leads"]]} for o in found.overdue],
                "more_overdue": found.more_overdue,
                "due_this_week": [{**d, "leads": [self.name(c) for c in d["leads"]]} for d in found.due_this_week],
                "more_due": found.more_due,
                "failures": [{"rung": RUNG_LABELS.get(f["row"].rung, f["row"].rung), "number": f["number"],
                              "key": f["key"] or "-", "error": self.undelivered(f["row"])} for f in found.failures],
            },
        }
        envelopes = split(to, cc, leads=[], key=row.key, message_id=row.message_id, earlier=earlier(row.recipients))
        return Prepared(row_id=row.id, message_id=row.message_id, key=row.key, rung=row.rung, template=row.template,
                        slug="", assignment_key=None, to=to, cc=cc, context=context, envelopes=envelopes,
                        settled=earlier(row.recipients))

    def undelivered(self, row: Notification) -> str:
        """Who a failed row did not reach, by name and address, with the server's reply."""
        found = failures(row.recipients)
        if not found:
            return row.last_error or ""
        parts = []
        for f in found:
            agency = self.agencies.get(f.get("agency") or "")
            name = (agency.head_title if f.get("head") else agency.name) if agency else ""
            parts.append(f"{name} <{f['address']}>: {f.get('error', '')}" if name else f"{f['address']}: {f.get('error', '')}")
        return "; ".join(dict.fromkeys(parts))

    def closing(self, directive: Directive) -> dict[str, Any]:
        event = self.session.exec(
            select(Event).where(Event.directive_id == directive.id, Event.kind == "closed").order_by(Event.id.desc())
        ).first()
        reason = event.payload.get("reason", "") if event else ""
        return {"reason": reason[:1].upper() + reason[1:], "rows": self.rows_view(directive)}


def describe_event(event: Event, key: str | None) -> str:
    """One line of the digest's 'what happened' list."""
    p = event.payload
    subject = f"{key}: " if key else ""
    if event.kind == "status":
        text = f"{subject}{LABELS.get(p.get('from'), p.get('from'))} → {LABELS.get(p.get('to'), p.get('to'))}"
        if p.get("evidence"):
            text += f", văn bản {p['evidence']}"
        if p.get("note"):
            text += f" ({p['note']})"
        return text
    if event.kind == "extended":
        return f"{subject}gia hạn đến {_dmy_iso(p.get('to'))} ({p.get('reason', '')})"
    if event.kind == "closed":
        return f"văn bản kết thúc: {p.get('reason', '')}"
    if event.kind == "created":
        if p.get("after"):
            due = _dmy_iso(p.get("due")) or f"{p.get('due_in')} ngày làm việc sau khi bắt đầu"
            return f"{subject}giao nhiệm vụ, bắt đầu sau khi xong: {', '.join(p['after'])}; thời hạn {due}"
        return f"{subject}giao nhiệm vụ, thời hạn {_dmy_iso(p.get('due'))}"
    if event.kind == "declined":
        return f"{subject}từ chối: không thuộc chức năng, nhiệm vụ ({p.get('reason', '')})"
    if event.kind == "decline_refused":
        return f"{subject}không chấp nhận lời từ chối; giữ nguyên giao nhiệm vụ ({p.get('reason', '')})"
    if event.kind == "reassigned":
        return f"{subject}giao lại cho {', '.join(p.get('leads', []))}, thời hạn {_dmy_iso(p.get('due'))} ({p.get('reason', '')})"
    if event.kind == "returned":
        return f"{subject}trả lại kết quả, yêu cầu bổ sung ({p.get('reason', '')})"
    if event.kind == "reviewed":
        return f"{subject}xác nhận hoàn thành"
    if event.kind == "started":
        return f"{subject}bắt đầu (các nhiệm vụ trước đã xong: {', '.join(p.get('after', []))}), thời hạn {_dmy_iso(p.get('due'))}"
    if event.kind == "launched":
        return f"khởi tạo văn bản số {p.get('number', '')}"
    if event.kind == "extension_requested":
        return f"{subject}đề nghị gia hạn đến {_dmy_iso(p.get('until'))} ({p.get('reason', '')})"
    if event.kind == "extension_rejected":
        return f"{subject}không đồng ý gia hạn ({p.get('reason', '')})"
    if event.kind == "requeued":
        again = f"đưa lại {p.get('count', 0)} thư không gửi được vào hàng chờ gửi"
        if p.get("reason") == "address":
            moved = ", ".join(f"{old} → {new}" for old, new in zip(p.get("from", []), p.get("to", [])))
            return f"sửa địa chỉ thư của {p.get('agency_name') or p.get('agency', '')} ({moved}); {again}"
        return f"{again} (dondoc outbox retry)"
    return f"{subject}{event.kind}"


def _dmy_iso(value: str | None) -> str:
    return f"{date.fromisoformat(value):%d/%m/%Y}" if value else ""


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _you(to: list[Person]) -> str:
    if len(to) == 1:
        return to[0].name if to[0].head else honorific(to[0].name)
    return "Thủ trưởng các cơ quan" if to and all(p.head for p in to) else "Quý cơ quan"
