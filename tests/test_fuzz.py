"""Bad input, fuzzed with hypothesis: nothing crashes, nothing answers 500, nothing is half-written."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from sqlmodel import func, select

from models.store.db import transaction
from models.errors import DefinitionError
from models.definition.loader import load_directive_text
from models.lifecycle.responses import load_responses
from models.store.tables import Event, ExtensionRequest
from tests.conftest import ROOT, SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DIRECTIVES = ROOT / "directives"
FIELDS = ["number", "issued_on", "issuer", "subject", "place", "registry", "report_to", "milestone", "assignments",
          "key", "title", "action", "kind", "leads", "supporting", "due", "depends_on", "ladder", "rung", "offset",
          "repeat", "to", "cc", "signature", "report", "on", "at", "assignment", "status", "evidence", "extend", "reason"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=40), st.sampled_from(["2020-11-30", "2021-02-30", "sxd", "stttt", "nobody",
                                                           "launch", "-5", "agencies/long-an.yaml", "annual-plan"]))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=8)),
    max_leaves=40)


def dump(data) -> str:
    from io import StringIO

    out = StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(documents)
def test_directive_loader_refuses_or_accepts_any_structure(data):
    try:
        load_directive_text(dump(data), name="fuzz.yaml", base_dir=DIRECTIVES)
    except DefinitionError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_directive_loader_refuses_or_accepts_any_text(text):
    try:
        load_directive_text(text, name="fuzz.yaml", base_dir=DIRECTIVES)
    except DefinitionError as exc:
        assert all(str(p).startswith("fuzz.yaml") for p in exc.problems)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 60), st.sampled_from(["title", "action", "due", "leads", "key", "depends_on"]), scalars)
def test_mutating_one_field_of_the_seed_never_crashes(index, field, value):
    data = YAML(typ="safe").load(SEED.read_text(encoding="utf-8"))
    data["assignments"][index % 5][field] = value
    try:
        load_directive_text(dump(data), name="fuzz.yaml", base_dir=DIRECTIVES)
    except DefinitionError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_responses_file_refuses_or_accepts_anything(tmp_path, data):
    path = tmp_path / "responses.yaml"
    path.write_text(dump(data), encoding="utf-8")
    try:
        items = load_responses(path, keys={"permit-review", "annual-plan"}, start=date(2020, 11, 30), until=date(2021, 2, 26))
    except DefinitionError as exc:
        assert exc.problems
    else:
        assert all(item.assignment in {"permit-review", "annual-plan"} for item in items)


def test_a_long_dependency_chain_does_not_overflow():
    chain = "\n".join(f"  - {{key: k{i}, title: T, action: x, leads: [sxd], due: 2021-03-31, depends_on: [k{(i + 1) % 3000}]}}"
                      for i in range(3000))
    text = ("number: 1/X\nissued_on: 2021-03-01\nissuer: stttt\nsubject: s\nplace: p\n"
            "registry: agencies/long-an.yaml\nassignments:\n" + chain + "\n")
    with pytest.raises(DefinitionError, match="vòng tròn"):
        load_directive_text(text, name="chain.yaml", base_dir=DIRECTIVES)


form_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
ACTIONS = ["tiep-nhan", "tien-do", "hoan-thanh", "gia-han"]


@pytest.fixture
def fuzz_site(database, tmp_path, monkeypatch):
    from dondoc.web import create_app
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.calendar.timerules import TimeRules

    monkeypatch.setenv("DONDOC_SECRET_KEY", "fuzz")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=datetime(2020, 11, 30, 9, tzinfo=TZ),
                         rules=TimeRules(), actor="c")
    return TestClient(create_app(clock=lambda: datetime(2020, 12, 20, 10, tzinfo=TZ)), follow_redirects=False)


def counts():
    """Rows written, and files kept under the uploads folder (the fixtures' working directory is tmp_path)."""
    from models.settings import get_settings

    uploads = Path(get_settings().state_dir) / "uploads"
    with transaction() as session:
        return (session.exec(select(func.count()).select_from(Event)).one(),
                session.exec(select(func.count()).select_from(ExtensionRequest)).one(),
                sum(1 for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else 0)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=st.sampled_from(ACTIONS), slug=st.sampled_from(["2550-stttt-bctt", "x", "%00", "../etc"]),
       key=st.sampled_from(["permit-review", "annual-plan", "nope"]), token=form_text, csrf=form_text,
       fields=st.dictionaries(st.sampled_from(["number", "document_date", "note", "until", "reason", "t", "csrf"]),
                              form_text, max_size=6))
def test_reply_endpoints_never_answer_500_nor_write_without_a_valid_token(fuzz_site, action, slug, key, token, csrf, fields):
    before = counts()
    response = fuzz_site.post(f"/phan-hoi/{slug}/{key}/{action}", params={"t": token, "csrf": csrf}, data=fields)
    assert response.status_code in (400, 403, 404, 405, 413, 422), response.status_code
    assert counts() == before
    page = fuzz_site.get(f"/phan-hoi/{slug}/{key}", params={"t": token})
    assert page.status_code in (403, 404)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.fixed_dictionaries({}, optional={"number": form_text, "document_date": form_text, "note": form_text,
                                                  "until": form_text, "reason": form_text}),
       action=st.sampled_from(ACTIONS), upload=st.one_of(st.none(), st.tuples(st.text(max_size=20), st.binary(max_size=200))),
       shape=st.sampled_from(["form", "multipart", "files"]))
def test_reply_forms_with_a_valid_token_answer_303_or_400_only(fuzz_site, fields, action, upload, shape):
    from models.settings import get_settings
    from notifications.links import ReplyLinks

    token, _ = ReplyLinks.from_settings(get_settings()).token(assignment_id=2, agency="sxd", slug="2550-stttt-bctt",
                                                              key="permit-review", now=datetime(2020, 12, 1, tzinfo=TZ))
    page = fuzz_site.get("/phan-hoi/2550-stttt-bctt/permit-review", params={"t": token})
    assert page.status_code == 200
    csrf = re.search(r'csrf=([^"&]+)"', page.text).group(1)  # in the query string of each form's action
    files = {"document": upload} if upload and action == "hoan-thanh" else {}
    if shape != "form":  # the text fields as multipart parts, or (wrongly) as file parts
        files.update({k: (None, v) if shape == "multipart" else ("f.txt", v.encode("utf-8", "replace")) for k, v in fields.items()})
        fields = {}
    before = counts()
    response = fuzz_site.post(f"/phan-hoi/2550-stttt-bctt/permit-review/{action}", params={"t": token, "csrf": csrf},
                              data=fields, files=files or None)
    assert response.status_code in (303, 400), response.text[:300]
    if response.status_code == 400:
        assert counts() == before
