"""The report as a Word document (python-docx), for the bureau's last edits in Word or WPS.

Same content and order as the PDF: real headings (Heading 1–4 for 一、（一）1.（1）), real tables
(the indicator table has one row per indicator), the charts as PNG pictures and the bureau's
commentary beside its indicator. Sentences built from facts come from the same Jinja macros as
the HTML (report_templates/_sentences.j2), so both say the same words.

Charts: the SVG each chart already is, rasterised by CairoSVG (libcairo is on every machine that
runs WeasyPrint's dependencies; WeasyPrint itself no longer writes PNG). Text in the charts goes
through fontconfig, so the same Noto CJK font draws it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any

from markupsafe import Markup

BODY_FONT = "仿宋"  # 公文 body face; Word/WPS have it, LibreOffice substitutes a CJK serif
HEADING_FONT = "黑体"
LATIN_FONT = "Times New Roman"
CHART_DPI = 200
CHARTS_PER_ROW = 3


def chart_png(svg: str, width_px: int = 600) -> bytes:
    """One chart's SVG as a PNG (white background, so it prints the same in Word and WPS)."""
    import cairosvg

    return cairosvg.svg2png(
        bytestring=svg.encode("utf-8"), output_width=width_px, background_color="white"
    )


def _sentences():
    from writers.html import template_env

    return template_env().get_template("_sentences.j2").module


def _plain(markup: Any) -> str:
    return Markup(str(markup)).striptags()


class _Writer:
    def __init__(self, ctx: Mapping[str, Any]):
        from docx import Document

        self.ctx = ctx
        self.doc = Document()
        self.L = ctx["labels"]
        self._setup()

    # ------------------------------------------------------------------ styles, page
    def _fonts(self, style, east: str, size: float | None = None, bold: bool | None = None):
        from docx.oxml.ns import qn
        from docx.shared import Pt, RGBColor

        style.font.name = LATIN_FONT
        rpr = style.element.get_or_add_rPr()
        rfonts = rpr.find(qn("w:rFonts"))
        if rfonts is None:
            rfonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(rfonts)
        for attr in ("w:ascii", "w:hAnsi"):
            rfonts.set(qn(attr), LATIN_FONT)
        rfonts.set(qn("w:eastAsia"), east)
        for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            rfonts.attrib.pop(qn(attr), None)
        if size:
            style.font.size = Pt(size)
        if bold is not None:
            style.font.bold = bold
        style.font.color.rgb = RGBColor(0, 0, 0)

    def _setup(self) -> None:
        from docx.enum.section import WD_ORIENT
        from docx.shared import Mm, Pt

        doc = self.doc
        sec = doc.sections[0]
        sec.orientation = WD_ORIENT.PORTRAIT
        sec.page_width, sec.page_height = Mm(210), Mm(297)
        sec.top_margin, sec.bottom_margin = Mm(25), Mm(22)
        sec.left_margin, sec.right_margin = Mm(25), Mm(22)
        self._fonts(doc.styles["Normal"], BODY_FONT, 12)
        doc.styles["Normal"].paragraph_format.line_spacing = 1.35
        doc.styles["Normal"].paragraph_format.space_after = Pt(3)
        for level, size in ((1, 16), (2, 14), (3, 12.5), (4, 12)):
            style = doc.styles[f"Heading {level}"]
            self._fonts(style, HEADING_FONT if level < 3 else BODY_FONT, size, True)
            style.paragraph_format.space_before = Pt(12 if level == 1 else 8)
            style.paragraph_format.space_after = Pt(6)
            style.font.italic = False
        cover = self.ctx["cover"]
        doc.core_properties.title = f"{cover['title']} {cover['subtitle']}"
        doc.core_properties.author = cover["issuing_body"]
        doc.core_properties.language = "zh-CN"
        sec.different_first_page_header_footer = True
        head = sec.header.paragraphs[0]
        head.text = cover["running_head"]
        head.alignment = 1
        self._page_numbers(sec.footer.paragraphs[0])

    def _page_numbers(self, para) -> None:
        """第 X 页　共 Y 页, with Word fields (updated by Word, WPS and LibreOffice on opening)."""
        from docx.oxml.ns import qn

        para.alignment = 1

        def field(code: str) -> None:
            run = para.add_run()
            for kind, text in (("begin", None), ("instr", code), ("separate", None), ("end", None)):
                if kind == "instr":
                    el = run._r.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
                    el.text = text
                else:
                    el = run._r.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
                run._r.append(el)
                if kind == "separate":
                    t = run._r.makeelement(qn("w:t"), {})
                    t.text = "1"
                    run._r.append(t)

        L = self.L
        para.add_run(L["page_before"])
        field("PAGE")
        para.add_run(L["page_between"])
        field("NUMPAGES")
        para.add_run(L["page_after"])

    # ------------------------------------------------------------------ pieces
    def heading(self, text: str, level: int) -> None:
        self.doc.add_heading(text, level=level)

    def para(self, text: str = "", indent: bool = True, bold_head: str = "", size=None):
        from docx.shared import Pt

        p = self.doc.add_paragraph()
        if indent:
            p.paragraph_format.first_line_indent = Pt(24)
        if bold_head:
            p.add_run(bold_head).bold = True
        run = p.add_run(text)
        if size:
            run.font.size = Pt(size)
        return p

    def blocks(self, blocks: Sequence[Mapping]) -> None:
        """The bureau's commentary: paragraphs and list items, bold runs kept, nothing else."""
        from docx.shared import Pt

        for b in blocks:
            p = self.doc.add_paragraph()
            if b["kind"] == "p":
                p.paragraph_format.first_line_indent = Pt(24)
            else:
                p.paragraph_format.left_indent = Pt(24 * b.get("depth", 1) + 12)
                p.paragraph_format.first_line_indent = Pt(-14)
                p.add_run(f"{b['n']}." if b["kind"] == "ol" else "•").bold = False
                p.add_run(" ")
            for r in b["runs"]:
                p.add_run(r["text"]).bold = bool(r["bold"])

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        size: float = 9.0,
        widths_mm: Sequence[float] | None = None,
    ):
        from docx.shared import Mm, Pt

        t = self.doc.add_table(rows=1, cols=len(header))
        t.style = self.doc.styles["Table Grid"]
        for cell, text in zip(t.rows[0].cells, header, strict=True):
            cell.text = ""
            run = cell.paragraphs[0].add_run(_plain_sym(text))
            run.bold = True
        self._repeat_header(t.rows[0])
        for row in rows:
            cells = t.add_row().cells
            for cell, text in zip(cells, row, strict=True):
                cell.text = str(text)
        for row in t.rows:
            for cell in row.cells:
                for p in cell.paragraphs:
                    p.paragraph_format.first_line_indent = Pt(0)
                    p.paragraph_format.space_after = Pt(0)
                    p.paragraph_format.line_spacing = 1.0
                    for run in p.runs:
                        run.font.size = Pt(size)
        if widths_mm:
            t.autofit = False
            for col, w in zip(t.columns, widths_mm, strict=True):
                col.width = Mm(w)  # the grid: LibreOffice and WPS lay out by it
            for row in t.rows:
                for cell, w in zip(row.cells, widths_mm, strict=True):
                    cell.width = Mm(w)
        self.doc.add_paragraph()
        return t

    def orientation(self, landscape: bool) -> None:
        """A new section on a new page, landscape for the wide indicator table, else portrait."""
        from docx.enum.section import WD_ORIENT, WD_SECTION
        from docx.shared import Mm

        sec = self.doc.add_section(WD_SECTION.NEW_PAGE)
        sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
        long, short = Mm(297), Mm(210)
        sec.page_width, sec.page_height = (long, short) if landscape else (short, long)
        sec.different_first_page_header_footer = False

    @staticmethod
    def _repeat_header(row) -> None:
        from docx.oxml.ns import qn

        trpr = row._tr.get_or_add_trPr()
        el = trpr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"})
        trpr.append(el)

    def page_break(self) -> None:
        from docx.enum.text import WD_BREAK

        self.doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)

    def items(self, entries: Sequence[Mapping]) -> None:
        for k, it in enumerate(entries, start=1):
            self.para(f"{it['status']}　{it['head']}：{it['text']}", bold_head=f"{k}．")
            if it.get("commentary"):
                self.blocks(it["commentary"])

    # ------------------------------------------------------------------ the report
    def write(self) -> bytes:
        ctx, L = self.ctx, self.L
        say = _sentences()
        self.cover()
        self.contents()
        # 一
        self.heading(L["overview"], 1)
        for p in ctx["overview"]["narrative"]:
            self.para(p)
        self.blocks(ctx["overview"]["commentary"])
        ov = ctx["overview"]
        header = [L["attribute"], L["total"], *[s["status"] for s in ov["status_order"]]]
        rows = [
            [a["attribute"], a["total"], *[c["count"] for c in a["cells"]]]
            for a in ov["by_attribute"]
        ]
        rows.append([L["total"], ov["total"], *[c["count"] for c in ov["by_status"]]])
        self.table(header, rows)
        # 二
        ach = ctx["achievements"]
        self.heading(L["achievements"], 1)
        self.para(_plain(say.achievements_intro(ach)))
        for g in ach["groups"]:
            self.heading(g["title"], 2)
            for k, e in enumerate(g["entries"], start=1):
                self.para(f"{e['status']}　" + _plain(say.achievement(e)), bold_head=f"{k}．")
        # 三 (the indicator table on landscape pages, as in the PDF)
        self.orientation(landscape=True)
        self.heading(L["table"], 1)
        self.heading(L["table_main"], 2)
        self.indicator_table()
        self.orientation(landscape=False)
        H = ctx["headings"]
        if ctx["charts"]["categories"]:
            self.heading(H["table_sub"]["charts"], 2)
            self.charts()
        if ctx["text_goals"]:
            self.heading(H["table_sub"]["text_goals"], 2)
            self.para(ctx["text_goals_lead"])
            self.table(
                [L["number"], "目标表述", "目标值", L["status"], "评定"],
                [
                    [k, g["text"], g["target"], g["status"], g["review"]]
                    for k, g in enumerate(ctx["text_goals"], start=1)
                ],
            )
        if ctx["indicator_notes"]["entries"]:
            self.heading(H["table_sub"]["indicator_notes"], 2)
            for k, e in enumerate(ctx["indicator_notes"]["entries"], start=1):
                self.heading(f"{k}．{e['head']}", 3)
                self.blocks(e["blocks"])
        # 四
        pr = ctx["problems"]
        self.heading(L["problems"], 1)
        self.para(pr["intro"])
        for sec in pr["sections"]:
            self.heading(sec["title"], 2)
            self.items(sec["entries"])
        if not pr["sections"]:
            self.para(L["none"])
        # 五
        sg = ctx["suggestions"]
        self.heading(L["suggestions"], 1)
        if sg["intro"]:
            self.para(sg["intro"])
        for g in sg["groups"]:
            self.heading(g["title"], 2)
            self.items(g["entries"])
        if sg["data_items"]:
            self.heading(sg["data_title"], 2)
            for k, t in enumerate(sg["data_items"], start=1):
                self.para(t, bold_head=f"{k}．")
        if sg["empty"]:
            self.para(L["none"])
        self.para(f"{L['annexes']}：{H['annex_list']}", indent=False)
        self.annexes()
        buf = BytesIO()
        self.doc.save(buf)
        return buf.getvalue()

    def cover(self) -> None:
        from docx.shared import Pt

        c, ctx = self.ctx["cover"], self.ctx
        for _ in range(5):
            self.doc.add_paragraph()
        for text, size, bold in ((c["title"], 22, True), (c["subtitle"], 22, False)):
            p = self.doc.add_paragraph()
            p.alignment = 1
            r = p.add_run(text)
            r.font.size, r.bold = Pt(size), bold
        if ctx["incomplete"]["present"]:
            p = self.doc.add_paragraph()
            p.alignment = 1
            r = p.add_run(f"【{self.L['incomplete']}】{ctx['incomplete']['text']}")
            r.bold = True
        self.doc.add_paragraph()
        for label, value in ((self.L["data_year"], c["data_year"]), (self.L["as_of"], c["as_of"])):
            p = self.doc.add_paragraph()
            p.alignment = 1
            p.add_run(f"{label}　{value}")
        for _ in range(8):
            self.doc.add_paragraph()
        for text, size in ((c["issuing_body"], 16), (c["issued_on"], 14)):
            p = self.doc.add_paragraph()
            p.alignment = 1
            p.add_run(text).font.size = Pt(size)
        self.page_break()

    def contents(self) -> None:
        from docx.shared import Pt

        p = self.doc.add_paragraph()
        p.alignment = 1
        r = p.add_run(self.L["toc"])
        r.bold, r.font.size = True, Pt(16)
        for e in self.ctx["toc"]:
            p = self.doc.add_paragraph()
            p.paragraph_format.left_indent = Pt(0 if e["level"] == 1 else 24)
            p.add_run(e["title"]).bold = e["level"] == 1
        self.page_break()

    def indicator_table(self) -> None:
        t = self.ctx["table"]
        header = [c["label"] for c in t["columns"]]
        rows = []
        for cat in t["categories"]:
            for r in cat["rows"]:
                name = r["name"] + (f"（{r['unit']}）" if r["unit"] else "")
                if r.get("notes"):
                    name += "〔注" + "、".join(str(n) for n in r["notes"]) + "〕"
                base = r["baseline"] + (
                    f"（{r['baseline_year']}）"
                    if r["baseline_year"] and r["baseline"] != "—"
                    else ""
                )
                if r.get("baseline_source") and r["baseline_source"] != "规划表":
                    base += f"〔{r['baseline_source_label']}〕"
                status = f"{r['symbol']}{r['status']}" + (
                    "（人工调整）" if r.get("overridden") else ""
                )
                cells = [r["number"], name]
                if t["show_attribute"]:
                    cells.append(r["attribute"])
                cells += [base, r["target"], r["value"], r["tau"], r["p"], r["rho"], r["projection"],
                          r["cagr"], status]  # fmt: skip
                rows.append(cells)
        widths = [8, 58, 13, 22, 20, 14, 13, 14, 13, 17, 13, 25]
        if not t["show_attribute"]:
            widths.pop(2)
        self.table(header, rows, size=8, widths_mm=widths)
        for f in t["footnotes"]:
            self.para(f"注{f['id']}　{self.L['indicator_short']}{f['numbers_text']}：{f['text']}",
                      indent=False, size=9)  # fmt: skip

    def charts(self) -> None:
        from docx.shared import Mm, Pt

        ch = self.ctx["charts"]
        for cat in ch["categories"]:
            self.heading(ch["category_titles"][cat["name"]], 3)
            entries = cat["entries"]
            t = self.doc.add_table(rows=0, cols=CHARTS_PER_ROW)
            for start in range(0, len(entries), CHARTS_PER_ROW):
                cells = t.add_row().cells
                for cell, e in zip(cells, entries[start : start + CHARTS_PER_ROW], strict=False):
                    p = cell.paragraphs[0]
                    p.paragraph_format.first_line_indent = Pt(0)
                    run = p.add_run(
                        f"{e['symbol']}{e['title']}" + (f"（{e['unit']}）" if e["unit"] else "")
                    )
                    run.font.size = Pt(8)
                    pic = cell.add_paragraph()
                    pic.paragraph_format.first_line_indent = Pt(0)
                    pic.add_run().add_picture(BytesIO(chart_png(e["svg"])), width=Mm(52))
        if ch["skipped"]:
            self.para(ch["skipped_label"] + "；".join(ch["skipped"]), indent=False, size=9)

    def annexes(self) -> None:
        ctx, L = self.ctx, self.L
        A = ctx["headings"]["annexes"]
        ar = ctx["areas"]
        if ar.get("present"):
            m = ar["matrix"]
            if m["wide"]:
                self.orientation(landscape=True)
            else:
                self.page_break()
            self.heading(A["areas"]["title"], 1)
            self.para(ar["intro"])
            self.heading(f"（一）{ar['matrix_title']}", 2)
            room = (250 if m["wide"] else 163) - 8 - 46
            self.table(
                [L["number"], L["indicator_short"], *[c["name"] for c in m["columns"]]],
                [[r["number"], r["name"], *[c["symbol"] for c in r["cells"]]] for r in m["rows"]],
                size=7,
                widths_mm=[8, 46, *[room / len(m["columns"])] * len(m["columns"])],
            )
            if m["wide"]:
                self.orientation(landscape=False)
            k = 1
            if ar["unit_tables"]:
                k += 1
                self.heading(f"（{'一二三四'[k - 1]}）分单位考核的指标", 2)
                for j, t in enumerate(ar["unit_tables"], start=1):
                    self.heading(f"{j}．{t['heading']}", 3)
                    self.para(t["summary"], indent=False, size=9)
                    self.table(ar["unit_columns"], [
                        [r["area"], r["baseline"], r["value"], r["target"], r["progress"], r["met"],
                         f"{r['symbol']}{r['status']}"] for r in t["rows"]
                    ], size=8, widths_mm=[35, 20, 20, 30, 18, 17, 23])  # fmt: skip
            if ar["area_tables"]:
                k += 1
                self.heading(f"（{'一二三四'[k - 1]}）各地区主要指标", 2)
                for j, t in enumerate(ar["area_tables"], start=1):
                    self.heading(f"{j}．{t['heading']}", 3)
                    self.table(ar["area_columns"], [
                        [r["number"], r["name"] + (f"（{r['unit']}）" if r["unit"] else ""),
                         r["baseline"], r["value"], r["target"], r["progress"],
                         f"{r['symbol']}{r['status']}"] for r in t["rows"]
                    ], size=8, widths_mm=[8, 57, 17, 15, 30, 14, 22])  # fmt: skip
        q = ctx["quality"]
        self.page_break()
        self.heading(A["quality"]["title"], 1)
        self.heading(L["quality_baseline"], 2)
        self.para(q["baseline_summary"])
        if q["baselines"]:
            self.table(
                [L["number"], L["indicator"], L["baseline_table"], L["baseline_text"],
                 L["baseline_warehouse"], L["difference"]],
                [[b["number"], b["name"], b["table"], b["text"], b["warehouse"], b["difference"]]
                 for b in q["baselines"]],
                size=8,
            )  # fmt: skip
        self.heading(L["quality_issues"], 2)
        self.para(q["issues_summary"])
        if q["issues"]:
            self.table(
                [L["severity"], L["kind"], L["number"], L["area"], L["year"], L["file_name"],
                 L["row"], L["detail"]],
                [[i["severity"], i["kind"], i["number"], i["area"], i["year"], i["file"], i["row"],
                  i["detail"]] for i in q["issues"]],
                size=7.5,
            )  # fmt: skip
        app = ctx["appendix"]
        if app["acknowledged"]:
            self.heading(f"（三）{L['acknowledged']}", 2)
            self.table(
                [L["number"], L["kind"], L["detail"], "确认人", "确认时间", L["reason"]],
                [[i["number"], i["kind"], i["detail"], i["by"], i["at"], i["reason"]]
                 for i in app["acknowledged"]],
            )  # fmt: skip
        self.page_break()
        self.heading(A["sources"]["title"], 1)
        self.para(app["sources_summary"])
        if app["sources"]:
            self.table(
                [L["file_name"], L["source"], L["layout"], L["checksum"],
                 f"{L['received_at']}（{app['sources_zone']}）", L["rows_loaded"], L["rows_rejected"]],
                [[s["name"], s["source"], s["layout"], s["checksum"], s["received_at"],
                  s["rows_loaded"], s["rows_rejected"]] for s in app["sources"]],
                size=7.5,
            )  # fmt: skip
        self.method(A["method"]["title"], app["method"])
        self.page_break()
        self.heading(A["version"]["title"], 1)
        self.heading("（一）数据时点与程序版本", 2)
        self.table(
            ["项目", "内容"],
            [
                [L["as_of"], app["as_of"]],
                [L["data_year"], app["data_year"]],
                [L["code_version"], app["code_version"]],
                [L["definition_checksum"], app["definition_checksum"]],
                [L["generated_at"], app["generated_at"]],
            ],
        )
        self.para(app["as_of_note"], indent=False, size=9)
        k = 1
        if app["reviews"]:
            k += 1
            self.heading(f"（{'一二三四五'[k - 1]}）{L['reviews']}", 2)
            self.table(
                [L["number"], L["verdict"], L["reviewer"], L["reviewed_at"], L["reason"]],
                [[r["number"], r["verdict"], r["reviewer"], r["reviewed_at"], r["reason"]]
                 for r in app["reviews"]],
            )  # fmt: skip
        if app["review_history"]:
            k += 1
            self.heading(f"（{'一二三四五'[k - 1]}）{L['review_history']}", 2)
            self.table(
                [L["number"], "类别", L["verdict"], L["reviewer"], L["reviewed_at"], L["reason"],
                 "现状"],
                [[r["number"], r["kind"], r["verdict"], r["by"], r["at"], r["reason"],
                  r.get("state") or "—"]
                 for r in app["review_history"]],
            )  # fmt: skip
        check = app["commentary_check"]
        if check["stale"] or check["problems"]:
            k += 1
            self.heading(f"（{'一二三四五'[k - 1]}）{L['commentary_check']}", 2)
            for j, t in enumerate(check["stale"] + check["problems"], start=1):
                self.para(f"{j}．{t}")

    def method(self, title: str, M: Mapping) -> None:
        self.page_break()
        self.heading(title, 1)
        T = M["titles"]
        self.heading(T["inputs"], 2)
        self.table(["符号", "含义"], [[_plain_sym(a), _plain_sym(b)] for a, b in M["inputs"]])
        self.heading(T["step1"], 2)
        for t in M["step1"]:
            self.para(_plain_sym(t))
        self.heading(T["step2"], 2)
        self.table(["名称", "公式"], [[a, _plain_sym(b)] for a, b in M["formulas"]])
        self.para(M["undefined"])
        self.heading(T["step3"], 2)
        self.para(M["stage_note"])
        for key in ("mid_table", "end_table", "any_table"):
            self.para(T[key], indent=False, bold_head="")
            self.table(
                [self.L["status"], self.L["condition"]],
                [[f"{s['symbol']}{s['status']}", c] for s, c in M[key]],
            )
        self.heading(T["step4"], 2)
        self.para(M["step4"])


def _plain_sym(text: object) -> str:
    """The mini-markup of labels and formulas as plain text: x_{0} → x₀-like 'x0', hat{x} → x̂."""
    import re

    s = str(text)
    s = re.sub(r"hat\{([^{}]*)\}", lambda m: m.group(1) + "\u0302", s)
    s = re.sub(r"_\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\^\{([^{}]*)\}", r"\1", s)
    return s


def render_docx(context: Mapping[str, Any]) -> bytes:
    """The report context as DOCX bytes."""
    return _Writer(context).write()
