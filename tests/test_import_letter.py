"""`dondoc import-letter`: letters in many styles become drafts that `dondoc launch` accepts once filled."""

from __future__ import annotations

import json
import shutil
import textwrap
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from dondoc.cli import app
from models.letter.agency_match import AgencyIndex
from models.letter.deadlines import find_deadlines
from models.letter.draft import render_draft
from models.errors import DefinitionError
from models.letter.letter import read_letter
from models.definition.loader import load_directive_file, load_registry
from models.letter.proposal import Proposal, propose
from models.letter.roles import find_roles
from models.calendar.workdays import WorkCalendar
from tests.conftest import FIXTURES, REGISTRY, ROOT, SEED

LETTERS = FIXTURES / "letters"
CALENDAR = WorkCalendar()
runner = CliRunner()


def proposal_of(text: str, registry: Path = REGISTRY) -> Proposal:
    return propose(read_letter(text), load_registry(registry), CALENDAR)


def codes(refs) -> list[str]:
    """Registry codes; "?name" for an agency the registry does not settle."""
    return [r.code or f"?{r.text}" for r in refs]


def draft_of(text: str, registry: Path = REGISTRY) -> str:
    reg = load_registry(registry)
    return render_draft(propose(read_letter(text), reg, CALENDAR), names={a.code: a.name for a in reg.agencies},
                        registry_path="agencies/long-an.yaml", source="letter.txt").text


def dondoc(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


# --- the seed ----------------------------------------------------------------------------------------

def test_seed_gives_the_five_assignments_of_the_design_with_their_leads():
    found = proposal_of((LETTERS / "2550-STTTT-BCTT.txt").read_text(encoding="utf-8"))
    assert [codes(a.leads) for a in found.assignments] == [["stttt"], ["stttt"], ["sxd"], ["stnmt"], ["sct", "bqlkkt"]]
    by_lead = {tuple(codes(a.leads)): a for a in found.assignments}
    assert codes(by_lead["sct", "bqlkkt"].supporting) == ["kcn-investors"]
    # The plan's bullet and the paragraph after the list that gives its deadline are one assignment.
    plan = found.assignments[1]
    assert plan.due == date(2021, 1, 29) and "(trong tháng 01/2021)" in plan.action
    assert plan.action.startswith("Sở Thông tin và Truyền thông chủ trì xây dựng kế hoạch")
    assert [a.due for a in found.assignments if a is not plan] == [None] * 4


def test_seed_agrees_with_the_hand_written_directive_on_leads_and_due_dates():
    written = load_directive_file(SEED).directive
    found = proposal_of((LETTERS / "2550-STTTT-BCTT.txt").read_text(encoding="utf-8"))
    assert sorted(codes(a.leads) for a in found.assignments) == sorted(a.leads for a in written.assignments)
    annual = next(a for a in written.assignments if a.key == "annual-plan")
    assert [a.due for a in found.assignments if codes(a.leads) == annual.leads and a.due] == [annual.due]
    letter = " ".join((LETTERS / "2550-STTTT-BCTT.txt").read_text(encoding="utf-8").split())
    for a in found.assignments:
        assert a.action in letter or all(part in letter for part in a.action.split(". Sở ")), a.key


def test_seed_header():
    found = proposal_of((LETTERS / "2550-STTTT-BCTT.txt").read_text(encoding="utf-8"))
    assert (found.number, found.issued_on, found.place) == ("2550/STTTT-BCTT", date(2020, 11, 30), "Long An")
    assert found.issuer.code == "stttt" and codes(found.report_to) == ["cuc-vt"]
    assert found.subject == "Xây dựng kế hoạch phát triển hạ tầng viễn thông hàng năm trên địa bàn tỉnh Long An"
    keys = [a.key for a in found.assignments]
    assert len(set(keys)) == 5 and all(k.replace("-", "").isalnum() and k.isascii() and k.islower() for k in keys)


# --- letters in other styles -------------------------------------------------------------------------

# (leads, supporting, due) of each assignment, in the letter's order.
EXPECTED = {
    # Kế hoạch: sections, numbered items, lettered items under an agency, abbreviations, a deadline per item.
    "45-KH-UBND.txt": ("ubnd", [], [
        (["stttt"], [], "2021-03-15"), (["stttt"], [], "2021-03-31"),
        (["sxd"], ["stnmt"], "2021-06-30"), (["sct", "bqlkkt"], [], "2021-04-20")]),
    # Công văn: bullets, many recipients, one deadline for the whole letter and one of an item's own.
    "118-STTTT-BCVT.txt": ("stttt", ["sxd", "stnmt", "bqlkkt", "viettel", "vnpt"], [
        (["viettel", "vnpt"], [], "2021-03-31"), (["sxd"], [], "2021-03-19"),
        (["stnmt"], [], "2021-03-31"), (["bqlkkt"], [], "2021-03-31")]),
    # Thông báo kết luận: prose "Giao … chủ trì, phối hợp với …", working days from the letter, an unknown agency.
    "27-TB-UBND.txt": ("ubnd", [], [
        (["sxd"], ["stttt"], "2021-01-04"), (["?Sở Tài chính"], ["stttt"], "2021-01-15"),
        (["stnmt"], ["sxd"], "2021-01-29"), (["stttt"], [], "2021-01-25")]),
    # Without diacritics; an item naming only "các doanh nghiệp" goes to the recipients the lead-in asks.
    "96-STTTT-VP-khong-dau.txt": ("stttt", ["viettel", "vnpt", "mobifone", "vietnamobile"], [
        (["viettel"], ["vnpt", "mobifone"], "2020-12-28"),
        (["viettel", "vnpt", "mobifone", "vietnamobile"], [], "2021-01-15"), (["stnmt", "sxd"], [], "2021-03-31")]),
    # A lead-in that assigns its items and their deadline; days counted from the signature; no deadline at all.
    "1507-UBND-KTTC.txt": ("ubnd", ["sxd", "sct", "bqlkkt"], [
        (["bqlkkt"], ["sct"], "2021-06-30"), (["bqlkkt"], ["sct"], "2021-03-24"), (["sxd"], [], None)]),
    # No deadline anywhere; a recipient outside the registry; "kính đề nghị" to a superior assigns nothing.
    "305-STTTT-BCVT.txt": ("stttt", ["cuc-vt", "?Bộ Xây dựng"], [
        (["stttt"], ["sxd"], None), (["sxd"], [], None), (["viettel", "vnpt", "mobifone"], [], None)]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_letters_in_every_style(name):
    issuer, report_to, expected = EXPECTED[name]
    found = proposal_of((LETTERS / name).read_text(encoding="utf-8"))
    assert found.issuer.code == issuer
    assert codes(found.report_to) == report_to
    got = [(codes(a.leads), codes(a.supporting), a.due.isoformat() if a.due else None) for a in found.assignments]
    assert got == expected


def test_header_parts_of_a_plan_and_a_notice():
    plan = proposal_of((LETTERS / "45-KH-UBND.txt").read_text(encoding="utf-8"))
    assert plan.number == "45/KH-UBND" and plan.issued_on == date(2021, 1, 15)
    assert plan.subject == "Phát triển hạ tầng số trên địa bàn tỉnh Long An năm 2021"
    notice = proposal_of((LETTERS / "27-TB-UBND.txt").read_text(encoding="utf-8"))
    assert notice.subject == ("Kết luận của Phó Chủ tịch UBND tỉnh tại cuộc họp về tháo gỡ vướng mắc "
                              "trong phát triển hạ tầng viễn thông")


def test_recipients_on_one_line_and_an_urgency_mark_in_the_header():
    letter = (LETTERS / "305-STTTT-BCVT.txt").read_text(encoding="utf-8").replace(
        "Kính gửi:\n- Cục Viễn thông;\n- Bộ Xây dựng.", "Kính gửi: Cục Viễn thông, Bộ Xây dựng (để báo cáo)").replace(
        "Số: 305/STTTT-BCVT", "Số: 305/STTTT-BCVT\n\nHỎA TỐC")
    found = proposal_of(letter)
    assert codes(found.report_to) == ["cuc-vt", "?Bộ Xây dựng"]
    assert found.subject == "Dùng chung cơ sở hạ tầng kỹ thuật viễn thông thụ động" and len(found.assignments) == 3


def test_a_date_line_in_the_body_is_not_the_letters_date():
    letter = (LETTERS / "118-STTTT-BCVT.txt").read_text(encoding="utf-8").replace(
        "Thực hiện Công văn số 512/UBND-KTTC ngày 01/3/2021", "Long An, ngày 01 tháng 3 năm 2021, thực hiện Công văn số 512/UBND-KTTC")
    found = proposal_of(letter)
    assert found.issued_on == date(2021, 3, 5) and len(found.assignments) == 4


def test_prose_action_starts_at_the_clause_that_assigns():
    found = proposal_of((LETTERS / "27-TB-UBND.txt").read_text(encoding="utf-8"))
    assert found.assignments[0].action.startswith("Giao Sở Xây dựng chủ trì, phối hợp với")
    assert found.assignments[3].action.startswith("Giao Sở Thông tin và Truyền thông theo dõi")
    assert found.assignments[0].groups == ["UBND các huyện, thị xã, thành phố"]


def test_the_aims_of_a_plan_are_not_assignments():
    found = proposal_of((LETTERS / "45-KH-UBND.txt").read_text(encoding="utf-8"))
    assert not any("Phát triển hạ tầng viễn thông đồng bộ" in a.action for a in found.assignments)
    assert len(found.assignments) == 4


@pytest.mark.parametrize(("sentence", "leads", "supporting"), [
    ("Sở Xây dựng chủ trì thẩm định hồ sơ; Sở TN&MT, Sở Công Thương phối hợp.", ["sxd"], ["stnmt", "sct"]),
    ("Đề nghị Sở Xây dựng phối hợp với Sở Công Thương kiểm tra các cột ăng-ten.", ["sxd"], ["sct"]),
    ("Yêu cầu BQL KKT, với sự phối hợp của Sở TNMT, rà soát mặt bằng.", ["bqlkkt"], ["stnmt"]),
    ("UBND tỉnh giao Sở TTTT chủ trì tổ chức tập huấn.", ["stttt"], []),
    ("Kính đề nghị Cục Viễn thông quan tâm, hướng dẫn.", [], []),
    ("So Cong Thuong chu tri cung Vien thong Long An khao sat.", ["sct"], ["vnpt"]),
])
def test_roles_in_one_sentence(sentence, leads, supporting):
    index = AgencyIndex(load_registry(REGISTRY))
    roles = find_roles(sentence, index.mentions(sentence))
    assert [m.codes[0] for m in roles.leads] == leads
    assert [m.codes[0] for m in roles.supporting] == supporting


@pytest.mark.parametrize(("phrase", "due"), [
    ("hoàn thành trước ngày 15/12/2020.", date(2020, 12, 15)),
    ("báo cáo chậm nhất ngày 28 tháng 12 năm 2020", date(2020, 12, 28)),
    ("xây dựng và ban hành kế hoạch (trong tháng 01/2021).", date(2021, 1, 29)),
    ("hoàn thành trong quý I/2021", date(2021, 3, 31)),
    ("hoan thanh trong quy II nam 2021", date(2021, 6, 30)),
    # 30/11/2020 is a Monday; 10 working days later, with no holiday between, is Monday 14/12.
    ("trong thời hạn 10 ngày làm việc kể từ ngày nhận được văn bản", date(2020, 12, 14)),
    # 30 days later is Wednesday 30/12; 32 days is Saturday 2/1/2021, moved past the weekend to Monday 4/1.
    ("trong vòng 32 ngày kể từ ngày ký", date(2021, 1, 4)),
    ("trước ngày 10/01", date(2021, 1, 10)),  # no year: the first 10 January after the letter
])
def test_deadline_phrases(phrase, due):
    found = find_deadlines(phrase, issued_on=date(2020, 11, 30), calendar=CALENDAR)
    assert [d.due for d in found] == [due]


@pytest.mark.parametrize("text", ["theo Nghị định số 53/2017/NĐ-CP ngày 08/5/2017 của Chính phủ",
                                  "trong 10 ngày qua, các doanh nghiệp đã lắp đặt 12 trạm", "kế hoạch năm 2021"])
def test_dates_that_are_not_deadlines(text):
    assert find_deadlines(text, issued_on=date(2020, 11, 30), calendar=CALENDAR) == []


def test_working_days_skip_tet_and_configured_days_off():
    # Tết Tân Sửu: 10–16/02/2021 are days off; 5 working days after Monday 8/2 are 9, 17, 18, 19, 22 February.
    found = find_deadlines("trong thời hạn 5 ngày làm việc kể từ ngày ký", issued_on=date(2021, 2, 8), calendar=CALENDAR)
    assert found[0].due == date(2021, 2, 22)
    extra = WorkCalendar(days_off=[date(2021, 2, 22)])
    assert find_deadlines("trong thời hạn 5 ngày làm việc kể từ ngày ký", issued_on=date(2021, 2, 8),
                          calendar=extra)[0].due == date(2021, 2, 23)


# --- what the draft leaves open ------------------------------------------------------------------------

def test_unknown_agency_and_missing_deadline_are_todo_comments_with_placeholders():
    text = draft_of((LETTERS / "27-TB-UBND.txt").read_text(encoding="utf-8"))
    assert "leads: ['<TODO: Sở Tài chính>']" in text
    assert "# TODO: «Sở Tài chính» không có trong danh mục cơ quan" in text
    text = draft_of((LETTERS / "305-STTTT-BCVT.txt").read_text(encoding="utf-8"))
    assert text.count("due: '<TODO: thời hạn>'") == 3
    assert text.count("# TODO: văn bản không nêu thời hạn cho nhiệm vụ này") == 3
    assert "'<TODO: Bộ Xây dựng>'" in text


def test_draft_is_valid_yaml_that_keeps_the_action_verbatim():
    letter = (LETTERS / "2550-STTTT-BCTT.txt").read_text(encoding="utf-8")
    data = YAML(typ="safe").load(draft_of(letter))
    found = proposal_of(letter)
    assert [a["action"] for a in data["assignments"]] == [a.action for a in found.assignments]
    assert data["number"] == "2550/STTTT-BCTT" and data["issuer"] == "stttt" and data["report_to"] == ["cuc-vt"]


def test_ambiguous_name_is_a_todo_naming_each_candidate(tmp_path):
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY.read_text(encoding="utf-8").replace(
        "short_names: [BQL KKT,", "short_names: [Ban Quản lý, BQL KKT,") + """
  - code: bqlda
    name: Ban Quản lý dự án đầu tư xây dựng tỉnh
    short_names: [Ban Quản lý]
    email: bqlda@longan.example.com
    head:
      title: Giám đốc Ban Quản lý dự án đầu tư xây dựng tỉnh
      email: giamdoc.bqlda@longan.example.com
""", encoding="utf-8")
    letter = (LETTERS / "27-TB-UBND.txt").read_text(encoding="utf-8").replace(
        "Giao Sở Tài chính chủ trì", "Giao Ban Quản lý chủ trì")
    found = proposal_of(letter, registry)
    assert found.assignments[1].leads[0].codes == ("bqlda", "bqlkkt")
    text = draft_of(letter, registry)
    assert "'<TODO: Ban Quản lý>'" in text
    assert "# TODO: «Ban Quản lý» có thể là bqlda (Ban Quản lý dự án đầu tư xây dựng tỉnh) hoặc bqlkkt" in text


def test_an_issuer_outside_the_registry_leaves_both_it_and_unnamed_leads_to_fill():
    letter = (LETTERS / "2550-STTTT-BCTT.txt").read_text(encoding="utf-8").replace("2550/STTTT-BCTT", "2550/SGDĐT-VP")
    text = draft_of(letter)
    assert "issuer: '<TODO: SGDĐT>'" in text and "# TODO: «SGDĐT» không có trong danh mục cơ quan" in text
    first = text.split("  # 2. ")[0]
    assert "leads: ['<TODO: cơ quan chủ trì>']" in first and "# TODO: văn bản không nêu cơ quan chủ trì" in first


def test_two_deadlines_for_one_item_are_a_todo():
    letter = (LETTERS / "118-STTTT-BCVT.txt").read_text(encoding="utf-8").replace(
        "cho các trạm trọng yếu.", "cho các trạm trọng yếu trước ngày 15/3/2021, báo cáo trước ngày 20/3/2021.")
    found = proposal_of(letter)
    assert found.assignments[0].due is None
    text = draft_of(letter)
    assert "# TODO: văn bản nêu nhiều thời hạn: «trước ngày 15/3/2021» → 15/03/2021; «trước ngày 20/3/2021»" in text


def test_issuer_symbol_and_header_that_disagree_are_a_todo():
    letter = (LETTERS / "118-STTTT-BCVT.txt").read_text(encoding="utf-8").replace("Số: 118/STTTT-BCVT", "Số: 118/SXD-QLXD")
    assert proposal_of(letter).issuer.codes == ("stttt", "sxd")
    assert "issuer: '<TODO: SXD / SỞ THÔNG TIN VÀ TRUYỀN THÔNG>'" in draft_of(letter)


def test_mixed_normalisation_crlf_and_bom_import_like_clean_text():
    clean = (LETTERS / "27-TB-UBND.txt").read_text(encoding="utf-8")
    # Every other word decomposed, as text pasted together from several programs can be.
    words = clean.split(" ")
    mixed = " ".join(unicodedata.normalize("NFD", w) if i % 2 else w for i, w in enumerate(words))
    messy = "\ufeff" + mixed.replace("\n", "\r\n")
    assert unicodedata.normalize("NFC", messy) != messy and unicodedata.normalize("NFD", messy) != messy
    assert draft_of(messy) == draft_of(clean)


@pytest.mark.parametrize("name", ["2550-STTTT-BCTT.txt", "27-TB-UBND.txt", "45-KH-UBND.txt", "1507-UBND-KTTC.txt"])
def test_hard_wrapped_text_imports_like_one_line_a_paragraph(name):
    clean = (LETTERS / name).read_text(encoding="utf-8")
    wrapped = "\n".join("\n".join(textwrap.wrap(line, 72, subsequent_indent="  ")) for line in clean.split("\n"))
    assert len(wrapped.splitlines()) > len(clean.splitlines())
    assert draft_of(wrapped) == draft_of(clean)


def test_loader_refuses_placeholders_anywhere_naming_each_once(tmp_path):
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY.read_text(encoding="utf-8").replace(
        "email: sxd@longan.example.com", "email: '<todo: địa chỉ thư>'"), encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_registry(registry)
    [problem] = info.value.problems
    assert problem.path == "agencies[3].email" and problem.line == 40 and "<todo: địa chỉ thư>" in problem.message


# --- the command ----------------------------------------------------------------------------------------

def test_import_prints_the_draft_and_one_summary_line(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = dondoc("import-letter", str(LETTERS / "2550-STTTT-BCTT.txt"))
    assert result.exit_code == 0, result.output
    assert YAML(typ="safe").load(result.stdout)["registry"] == "directives/agencies/long-an.yaml"
    assert result.stderr.strip() == ("Đã đọc 5 nhiệm vụ; cơ quan: 7 khớp danh mục, 0 không có trong danh mục, 0 chưa rõ; "
                                     "thời hạn: 1/5 nhiệm vụ; 4 chỗ <TODO: …> cần điền.")


def test_summary_counts_unmatched_agencies(tmp_path):
    result = dondoc("import-letter", str(LETTERS / "27-TB-UBND.txt"), "--agencies", str(REGISTRY), "-o", str(tmp_path / "d.yaml"))
    assert result.exit_code == 0, result.output
    assert "4 nhiệm vụ; cơ quan: 4 khớp danh mục, 1 không có trong danh mục, 0 chưa rõ; thời hạn: 4/4" in result.stderr


def test_registry_path_is_relative_to_the_draft(tmp_path):
    out = tmp_path / "drafts" / "nested"
    out.mkdir(parents=True)
    result = dondoc("import-letter", str(LETTERS / "45-KH-UBND.txt"), "-o", str(out / "draft.yaml"), "--agencies", str(REGISTRY))
    assert result.exit_code == 0, result.output
    ref = YAML(typ="safe").load((out / "draft.yaml").read_text(encoding="utf-8"))["registry"]
    assert not Path(ref).is_absolute() and (out / ref).resolve() == REGISTRY.resolve()
    assert load_directive_file(out / "draft.yaml").directive.issuer == "ubnd"  # nothing left to fill in this one


def test_existing_output_is_kept_without_force(tmp_path):
    out = tmp_path / "draft.yaml"
    out.write_text("mine", encoding="utf-8")
    args = ["import-letter", str(LETTERS / "45-KH-UBND.txt"), "-o", str(out), "--agencies", str(REGISTRY)]
    result = dondoc(*args)
    assert result.exit_code == 2 and "--force" in result.stderr and out.read_text(encoding="utf-8") == "mine"
    assert dondoc(*args, "--force").exit_code == 0 and out.read_text(encoding="utf-8").startswith("# Bản nháp")


def test_missing_default_registry_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = dondoc("import-letter", str(LETTERS / "45-KH-UBND.txt"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Lỗi: directives/agencies/long-an.yaml: không tìm thấy danh mục cơ quan trong thư mục "
                                     "hiện tại; chỉ rõ bằng --agencies TỆP")


def docx_letter(path: Path) -> Path:
    """A .docx laid out as Word users do: the header in a borderless table, items in Word's own numbering."""
    import docx

    document = docx.Document()
    header = document.add_table(rows=2, cols=2)
    header.cell(0, 0).text = "UBND TỈNH LONG AN\nSỞ THÔNG TIN VÀ TRUYỀN THÔNG"
    header.cell(0, 1).text = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc"
    header.cell(1, 0).text = "Số: 412/STTTT-BCVT"
    header.cell(1, 0).add_paragraph("V/v xây dựng Quy chế quản lý hạ tầng viễn thông thụ động")
    header.cell(1, 1).text = "Long An, ngày 25 tháng 01 năm 2021"
    document.add_paragraph("Kính gửi: UBND tỉnh Long An")
    document.add_paragraph("Thực hiện chỉ đạo của UBND tỉnh tại Thông báo số 27/TB-UBND ngày 18/12/2020, "
                           "Sở Thông tin và Truyền thông báo cáo và đề xuất giao nhiệm vụ như sau:")
    for text in ("Sở TTTT chủ trì, phối hợp với Sở XD hoàn thiện dự thảo Quy chế quản lý hạ tầng viễn thông thụ động, "
                 "trình UBND tỉnh trong tháng 02/2021.",
                 "Sở Xây dựng bổ sung nội dung hạ tầng viễn thông thụ động vào hướng dẫn cấp giấy phép xây dựng; "
                 "thời hạn: trước ngày 26/02/2021.",
                 "Văn phòng UBND tỉnh theo dõi, đôn đốc các cơ quan thực hiện."):
        document.add_paragraph(text, style="List Number")
    document.add_paragraph("Kính trình UBND tỉnh xem xét, chỉ đạo./.")
    document.add_paragraph("Nơi nhận:")
    document.add_paragraph("- Như trên;")
    document.save(path)
    return path


def test_docx_letter(tmp_path):
    out = tmp_path / "draft.yaml"
    result = dondoc("import-letter", str(docx_letter(tmp_path / "412.docx")), "-o", str(out), "--agencies", str(REGISTRY))
    assert result.exit_code == 0, result.output
    data = YAML(typ="safe").load(out.read_text(encoding="utf-8"))
    assert (data["number"], data["issued_on"], data["issuer"], data["report_to"]) == (
        "412/STTTT-BCVT", date(2021, 1, 25), "stttt", ["ubnd"])
    assert data["subject"] == "Xây dựng Quy chế quản lý hạ tầng viễn thông thụ động"
    got = [(a["leads"], a.get("supporting", []), a["due"]) for a in data["assignments"]]
    assert got == [(["stttt"], ["sxd"], date(2021, 2, 26)), (["sxd"], [], date(2021, 2, 26)),
                   (["vp-ubnd"], [], "<TODO: thời hạn>")]


@pytest.mark.parametrize(("make", "words"), [
    (lambda d: d / "missing.txt", "không tìm thấy tệp"),
    (lambda d: d, "là một thư mục"),
    (lambda d: _write(d / "utf16.txt", "Số: 1/UBND\nKính gửi: Sở Xây dựng".encode("utf-16")), "không phải văn bản UTF-8"),
    (lambda d: _write(d / "empty.txt", b""), "không nhận ra văn bản hành chính"),
    (lambda d: _write(d / "poem.txt", "Trăm năm trong cõi người ta,\nChữ tài chữ mệnh khéo là ghét nhau.".encode()),
     "không nhận ra văn bản hành chính"),
    (lambda d: _write(d / "broken.docx", b"PK\x03\x04 this is no zip"), "tệp .docx bị hỏng"),
    (lambda d: _write(d / "old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64), "Word 97–2003"),
    (lambda d: _write(d / "no-items.txt", "Số: 3/STTTT-VP\nLong An, ngày 01 tháng 3 năm 2021\n\nKính gửi: Cục Viễn thông\n\n"
                      "Sở Thông tin và Truyền thông xin gửi lời chào trân trọng./.".encode()), "không tìm thấy nhiệm vụ nào"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, words):
    path = make(tmp_path)
    result = dondoc("import-letter", str(path), "--agencies", str(REGISTRY), "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Lỗi: ") and words in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "out.yaml").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_launch_refuses_a_draft_with_todos_naming_each(tmp_path, monkeypatch):
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'dondoc.db'}")
    draft = tmp_path / "draft.yaml"
    assert dondoc("import-letter", str(LETTERS / "27-TB-UBND.txt"), "-o", str(draft), "--agencies", str(REGISTRY)).exit_code == 0
    lines = draft.read_text(encoding="utf-8").splitlines()
    result = dondoc("launch", str(draft))
    assert result.exit_code == 2
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    todo_line = next(i + 1 for i, line in enumerate(lines) if "'<TODO: Sở Tài chính>'" in line)
    assert problems == [f"{draft}:{todo_line}: assignments[1].leads[0]: chưa điền: <TODO: Sở Tài chính> (thay bằng giá trị thật)"]
    assert not (tmp_path / "dondoc.db").exists()  # refused before anything touched the database


def test_help():
    result = dondoc("import-letter", "--help")
    assert result.exit_code == 0 and "--agencies" in result.stdout and "<TODO: …>" in result.stdout


@pytest.mark.prefect
def test_import_fill_and_launch_the_seed(tmp_path, monkeypatch, prefect_server):
    shutil.copytree(ROOT / "directives" / "agencies", tmp_path / "directives" / "agencies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'dondoc.db'}")
    shutil.copy(LETTERS / "2550-STTTT-BCTT.txt", tmp_path / "2550.txt")
    result = dondoc("import-letter", "2550.txt", "-o", "directives/2550.yaml")
    assert result.exit_code == 0, result.output
    draft = tmp_path / "directives" / "2550.yaml"
    text = draft.read_text(encoding="utf-8")
    assert dondoc("launch", str(draft)).exit_code == 2
    draft.write_text(text.replace("'<TODO: thời hạn>'", "2020-12-31"), encoding="utf-8")
    result = dondoc("launch", str(draft), "--now", "2020-11-30T09:00+07:00")
    assert result.exit_code == 0, result.output
    slug = result.stdout.strip()
    assert slug == "2550-stttt-bctt"
    rows = json.loads(dondoc("status", slug, "--json", "--now", "2020-12-01T09:00+07:00").stdout)
    assert [(row["leads"], row["due"]) for row in rows] == [
        (["stttt"], "2020-12-31"), (["stttt"], "2021-01-29"), (["sxd"], "2020-12-31"), (["stnmt"], "2020-12-31"),
        (["sct", "bqlkkt"], "2020-12-31")]
