"""A proposed directive written as the YAML `dondoc launch` reads, with a ``# TODO:`` above every gap."""

from __future__ import annotations

import io
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import FoldedScalarString

from models.definition.placeholders import placeholder
from models.letter.proposal import Proposal, Proposed, Ref

_WIDTH = 96


@dataclass(frozen=True)
class Draft:
    text: str
    todos: int  # placeholders left for the coordinator


class _Writer:
    def __init__(self, names: dict[str, str]):
        self.names = names
        self.todos = 0

    def put(self, target: CommentedMap, key: str, value, *, todo: str | None = None, notes: list[str] = (),
            indent: int = 0, label: str = "") -> None:
        """``target[key] = value``; a placeholder labelled ``label`` when ``todo`` says why it is missing."""
        lines = list(notes)
        if todo is not None:
            value = self.placeholder(label)
            lines.append(f"TODO: {todo}")
        target[key] = value
        if lines:
            target.yaml_set_comment_before_after_key(key, before="\n".join(lines), indent=indent)

    def placeholder(self, label: str) -> str:
        self.todos += 1
        return placeholder(label.replace("<", "").replace(">", ""))

    def codes(self, refs: list[Ref]) -> tuple[CommentedSeq, list[str]]:
        """Agency codes, and a placeholder with its TODO for each agency the registry does not settle."""
        values, comments = CommentedSeq(), []
        for ref in refs:
            if ref.code:
                values.append(ref.code)
                continue
            values.append(self.placeholder(ref.text or "cơ quan"))
            if ref.codes:
                choices = " hoặc ".join(f"{code} ({self.names[code]})" for code in ref.codes)
                comments.append(f"TODO: «{ref.text}» có thể là {choices}; chọn một mã.")
            else:
                comments.append(f"TODO: «{ref.text}» không có trong danh mục cơ quan; thêm vào danh mục "
                                "hoặc thay bằng mã của một cơ quan trong danh mục.")
        values.fa.set_flow_style()
        return values, comments


def render_draft(proposal: Proposal, *, names: dict[str, str], registry_path: str, source: str) -> Draft:
    """The draft directive; ``names`` maps the registry's codes to agency names, for the comments."""
    w = _Writer(names)
    root = CommentedMap()
    root.yaml_set_start_comment(
        f"Bản nháp văn bản chỉ đạo do `dondoc import-letter` lập từ {source}.\n"
        "Đối chiếu từng trường với văn bản gốc, điền mọi chỗ <TODO: …> (lý do ghi ở dòng TODO ngay trên),\n"
        "rồi khởi tạo bằng `dondoc launch`. Các trường: docs/schema.md.")
    p = proposal
    w.put(root, "number", p.number, todo=None if p.number else "không tìm thấy số, ký hiệu (dòng «Số: …»).",
          label="số, ký hiệu")
    w.put(root, "issued_on", p.issued_on, label="ngày ban hành",
          todo=None if p.issued_on else "không tìm thấy ngày ban hành (dòng «…, ngày … tháng … năm …»); điền YYYY-MM-DD.")
    if p.issuer.text or p.issuer.codes:
        issuer, comments = w.codes([p.issuer])
        w.put(root, "issuer", issuer[0], notes=comments)
    else:
        w.put(root, "issuer", None, label="cơ quan ban hành",
              todo="không xác định được cơ quan ban hành từ ký hiệu và phần đầu văn bản; điền mã cơ quan.")
    w.put(root, "subject", p.subject, todo=None if p.subject else "không tìm thấy trích yếu (V/v …).", label="trích yếu")
    w.put(root, "place", p.place, todo=None if p.place else "không tìm thấy địa danh của dòng ngày tháng.",
          label="địa danh")
    w.put(root, "registry", registry_path)
    if p.report_to or p.recipient_groups:
        report_to, comments = w.codes(p.report_to)
        groups = [f"Kính gửi còn nêu «{g}»: không phải một cơ quan cụ thể, không đưa vào." for g in p.recipient_groups]
        w.put(root, "report_to", report_to, notes=["Nơi nhận báo cáo: các cơ quan ở phần Kính gửi.", *groups, *comments])
    assignments = CommentedSeq()
    for i, proposed in enumerate(p.assignments):
        assignments.append(_assignment(w, proposed))
        leads = ", ".join(w.names.get(r.code, r.text) if r.code else r.text for r in proposed.leads) or "?"
        assignments.yaml_set_comment_before_after_key(i, before=f"{i + 1}. Chủ trì: {leads}", indent=2)
    w.put(root, "assignments", assignments, notes=[
        "", "Mốc hoàn thành (không bắt buộc): thêm «milestone: <khóa>» nếu văn bản kết thúc khi nhiệm vụ đó hoàn thành."])
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # only the action is folded, by _folded: ruamel leaves a trailing space where it wraps
    out = io.StringIO()
    yaml.dump(root, out)
    return Draft(text=out.getvalue(), todos=w.todos)


def _assignment(w: _Writer, a: Proposed) -> CommentedMap:
    item = CommentedMap()
    w.put(item, "key", a.key, indent=4)
    w.put(item, "title", a.title, indent=4)
    w.put(item, "action", _folded(a.action), indent=4)
    notes = [a.lead_note[:1].upper() + a.lead_note[1:] + "."] if a.lead_note else []
    leads, comments = w.codes(a.leads)
    if not a.leads:
        leads.append(w.placeholder("cơ quan chủ trì"))
        comments = ["TODO: văn bản không nêu cơ quan chủ trì nhiệm vụ này; điền mã cơ quan."]
    w.put(item, "leads", leads, notes=[*notes, *comments], indent=4)
    supporting, comments = w.codes(a.supporting)
    groups = [f"Văn bản còn nêu «{g}»: bổ sung mã các cơ quan phối hợp nếu cần." for g in a.groups]
    if a.supporting or groups:
        w.put(item, "supporting", supporting, notes=[*groups, *comments], indent=4)
    w.put(item, "due", a.due, **_due(a), indent=4)
    return item


def _due(a: Proposed) -> dict:
    where = {"": "", "lead-in": " (nêu ở câu dẫn)", "letter": " (nêu chung cho cả văn bản)"}[a.deadline_from]
    if a.due is not None:
        return {"notes": [f"Thời hạn{where}: «{d.phrase}» → {d.rule}." for d in a.deadlines[:1]]}
    if not a.deadlines:
        return {"todo": "văn bản không nêu thời hạn cho nhiệm vụ này; điền ngày (YYYY-MM-DD).", "label": "thời hạn"}
    stated = "; ".join(f"«{d.phrase}»" + (f" → {d.due:%d/%m/%Y}" if d.due else f" ({d.rule})") for d in a.deadlines)
    many = len({d.due for d in a.deadlines}) > 1
    why = "văn bản nêu nhiều thời hạn" if many else "chưa tính được thời hạn"
    return {"todo": f"{why}{where}: {stated}; điền ngày (YYYY-MM-DD).", "label": "thời hạn"}


def _folded(text: str) -> FoldedScalarString:
    """The action as a ``>-`` block cut at spaces: readable, and it loads back to the same one-line text."""
    folded = FoldedScalarString(text)
    positions, line_start = [], 0
    for i, char in enumerate(text):
        if char == " " and i - line_start > _WIDTH - 12:
            positions.append(i)
            line_start = i + 1
    folded.fold_pos = positions
    return folded
