"""`dondoc import-letter`: a letter (công văn, kế hoạch, thông báo) read into a draft directive."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dondoc.app import app, err
from models.errors import InputError

if TYPE_CHECKING:
    from models.letter.proposal import Proposal

DEFAULT_REGISTRY = Path("directives") / "agencies" / "long-an.yaml"


@app.command("import-letter")
def import_letter(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Văn bản: tệp .txt (UTF-8) hoặc .docx.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Tệp YAML của bản nháp. Mặc định: in ra màn hình.")] = None,
    agencies: Annotated[Path | None, typer.Option("--agencies", metavar="REGISTRY.yaml", help=(
        "Danh mục cơ quan để đối chiếu tên. Mặc định: directives/agencies/long-an.yaml trong thư mục hiện tại."))] = None,
    force: Annotated[bool, typer.Option("--force", help="Ghi đè tệp -o nếu đã có.")] = False,
) -> None:
    """Đọc công văn, kế hoạch, thông báo kết luận (.txt hoặc .docx) và lập bản nháp văn bản chỉ đạo (YAML).

    Lấy số, ký hiệu; địa danh, ngày tháng; cơ quan ban hành; trích yếu; Kính gửi (thành report_to); mỗi nhiệm vụ (gạch đầu dòng, mục đánh số, câu «Giao … chủ trì, phối hợp với …») với cơ quan chủ trì, cơ quan phối hợp và thời hạn («trước ngày …», «trong tháng …», «trong quý …», «trong thời hạn N ngày làm việc …»).

    Chỗ văn bản không nói rõ (không có thời hạn, cơ quan không có trong danh mục, tên ứng với nhiều cơ quan) được để lại dạng <TODO: …> kèm ghi chú; [bold]dondoc launch[/] từ chối bản nháp cho đến khi điền hết. Một dòng tổng kết được in ra stderr.

    Ví dụ: dondoc import-letter cong-van.docx -o directives/cong-van.yaml
    """
    # Imported here, not at the top: `dondoc --help` and the other commands must not load the letter reader.
    from models.letter.draft import render_draft
    from models.letter.letter import read_letter
    from models.definition.loader import load_registry
    from models.letter.proposal import propose
    from models.settings import get_settings
    from models.textcheck import shown
    from models.calendar.timerules import TimeRules

    registry_file = agencies or DEFAULT_REGISTRY
    if not registry_file.is_file():
        hint = "" if agencies else " trong thư mục hiện tại; chỉ rõ bằng --agencies TỆP"
        raise InputError(f"{registry_file}: không tìm thấy danh mục cơ quan{hint}")
    if output is not None and output.exists() and not force:
        raise InputError(f"{output}: tệp đã có; dùng --force để ghi đè")
    registry = load_registry(registry_file)
    text = letter_text(file)
    try:
        letter = read_letter(text)
    except InputError as exc:
        raise InputError(f"{file}: {exc}") from None
    proposal = propose(letter, registry, TimeRules.from_settings(get_settings()).calendar)
    if not proposal.assignments:
        raise InputError(f"{file}: không tìm thấy nhiệm vụ nào (gạch đầu dòng, mục đánh số hoặc câu «Giao … chủ trì …»)")
    draft = render_draft(proposal, names={a.code: a.name for a in registry.agencies},
                         registry_path=_relative(registry_file, output.parent if output else Path.cwd()), source=str(file))
    if output is None:
        sys.stdout.write(draft.text)
    else:
        try:
            output.write_text(draft.text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{output}: không ghi được tệp ({exc.strerror})") from None
    err.print(shown(summary(proposal, draft.todos) + (f" Bản nháp: {output}." if output else "")), markup=False)


def summary(proposal: Proposal, todos: int) -> str:
    refs = proposal.agencies()
    items = len(proposal.assignments)
    dated = sum(1 for a in proposal.assignments if a.due)
    return (f"Đã đọc {items} nhiệm vụ; cơ quan: {sum(1 for r in refs if r.code)} khớp danh mục, "
            f"{sum(1 for r in refs if not r.codes)} không có trong danh mục, "
            f"{sum(1 for r in refs if len(r.codes) > 1)} chưa rõ; thời hạn: {dated}/{items} nhiệm vụ; "
            f"{todos} chỗ <TODO: …> cần điền.")


def _relative(path: Path, base: Path) -> str:
    """``path`` as the draft must name it: relative to the folder the draft is written to."""
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return path.resolve().as_posix()


def letter_text(path: Path) -> str:
    """The text of a .txt (UTF-8) or .docx letter; ``InputError`` when it cannot be read."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: không tìm thấy tệp") from None
    except IsADirectoryError:
        raise InputError(f"{path}: là một thư mục, không phải tệp văn bản") from None
    except OSError as exc:
        raise InputError(f"{path}: không đọc được tệp ({exc.strerror})") from None
    if raw.startswith(b"PK\x03\x04") or path.suffix.lower() == ".docx":
        return docx_text(path, raw)
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path}: tệp .doc (Word 97–2003) chưa được hỗ trợ; lưu lại thành .docx hoặc .txt")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: tệp không phải văn bản UTF-8; lưu lại với mã UTF-8 hoặc dùng tệp .docx") from None


def docx_text(path: Path, raw: bytes) -> str:
    """The paragraphs of a .docx in reading order, tables (the header is one) cell by cell; one paragraph a block."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
        blocks = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                blocks += [_paragraph(p) for cell in _cells(block) for p in cell.paragraphs]
            else:
                blocks.append(_paragraph(block))
    except Exception as exc:  # noqa: BLE001 - python-docx and lxml raise many kinds on a damaged file
        raise InputError(f"{path}: tệp .docx bị hỏng hoặc không phải tài liệu Word ({type(exc).__name__})") from None
    return "\n\n".join(blocks)


def _cells(table):
    seen: list = []  # a merged cell is returned once for each grid column it spans
    for row in table.rows:
        for cell in row.cells:
            if not any(cell._tc is tc for tc in seen):
                seen.append(cell._tc)
                yield cell


def _paragraph(paragraph) -> str:
    """A paragraph's text; Word's own numbering is not in the text, so a numbered paragraph gets a "-" bullet."""
    text = paragraph.text.strip()
    ppr = paragraph._p.pPr
    numbered = (ppr is not None and ppr.numPr is not None) or (paragraph.style is not None and
                                                               paragraph.style.name.startswith("List"))
    return f"- {text}" if numbered and text else text
