"""GDPR Art. 13 coverage of one policy: which information items it gives, with evidence.

The item → label mapping is data (``ART13_ITEMS``), not code, so a researcher's
own label scheme only needs a new table. An item whose labels the model does not
have is reported as "not covered by this model's labels" rather than "missing":
the model cannot see it, which says nothing about the policy.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from clausetag.languages import LANGUAGES
from clausetag.terminal import printable

PRESENT, MISSING, NOT_COVERED = "present", "missing", "not_covered"


@dataclass(frozen=True)
class Art13Item:
    """One information item of GDPR Art. 13 and the clause labels that evidence it."""

    key: str
    article: str
    labels: tuple[str, ...]
    title: dict[str, str]


ART13_ITEMS: tuple[Art13Item, ...] = (
    Art13Item(
        "controller",
        "13(1)(a)",
        ("controller",),
        {
            "en": "Identity and contact details of the controller",
            "lv": "Pārziņa identitāte un kontaktinformācija",
        },
    ),
    Art13Item(
        "purposes",
        "13(1)(c)",
        ("purpose",),
        {"en": "Purposes of the processing", "lv": "Apstrādes nolūki"},
    ),
    Art13Item(
        "legal_basis",
        "13(1)(c)",
        ("legal_basis",),
        {"en": "Legal basis for the processing", "lv": "Apstrādes juridiskais pamats"},
    ),
    Art13Item(
        "recipients",
        "13(1)(e)",
        ("recipients",),
        {
            "en": "Recipients or categories of recipients",
            "lv": "Personas datu saņēmēji vai saņēmēju kategorijas",
        },
    ),
    Art13Item(
        "transfers",
        "13(1)(f)",
        ("transfer",),
        {
            "en": "Transfers to a third country or an international organisation",
            "lv": "Datu nosūtīšana uz trešo valsti vai starptautisku organizāciju",
        },
    ),
    Art13Item(
        "retention",
        "13(2)(a)",
        ("retention",),
        {
            "en": "Storage period, or the criteria used to determine it",
            "lv": "Datu glabāšanas laikposms vai kritēriji tā noteikšanai",
        },
    ),
    Art13Item(
        "rights",
        "13(2)(b)",
        ("rights",),
        {
            "en": "Rights of access, rectification, erasure, restriction, objection and portability",
            "lv": "Tiesības piekļūt datiem, labot, dzēst, ierobežot apstrādi, iebilst un uz datu pārnesamību",
        },
    ),
    Art13Item(
        "consent_withdrawal",
        "13(2)(c)",
        ("user_choice",),
        {
            "en": "Right to withdraw consent at any time",
            "lv": "Tiesības jebkurā laikā atsaukt piekrišanu",
        },
    ),
    Art13Item(
        "complaint",
        "13(2)(d)",
        ("complaint",),
        {
            "en": "Right to lodge a complaint with a supervisory authority",
            "lv": "Tiesības iesniegt sūdzību uzraudzības iestādē",
        },
    ),
    Art13Item(
        "provision_requirement",
        "13(2)(e)",
        ("provision_requirement",),
        {
            "en": "Whether providing the data is a statutory or contractual requirement, "
            "and the consequences of not providing it",
            "lv": "Vai datu sniegšana ir likumā vai līgumā noteikta prasība un kādas ir sekas, "
            "ja dati netiek sniegti",
        },
    ),
    Art13Item(
        "automated_decisions",
        "13(2)(f)",
        ("automated_decisions",),
        {
            "en": "Automated decision-making, including profiling",
            "lv": "Automatizēta lēmumu pieņemšana, tostarp profilēšana",
        },
    ),
)

#: Report wording per language: the policy's own language reads best for its authors.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "GDPR Art. 13 coverage",
        "item": "Information item",
        "article": "Art.",
        "status": "Status",
        "best": "Best score",
        "evidence": "Evidence",
        "candidates": "Closest candidates (below threshold)",
        "none": "no units",
        PRESENT: "present",
        MISSING: "missing",
        NOT_COVERED: "not covered by this model's labels",
        "summary": "{present} of {total} items present, {missing} missing, "
        "{not_covered} not covered by this model's labels",
        "meta": "Document {doc} ({units} units), model {model}.",
        "note": "Automated screening, not legal advice: check the evidence before relying on it.",
        "unit": "unit",
    },
    "lv": {
        "title": "VDAR 13. panta pārklājums",
        "item": "Informācijas vienība",
        "article": "Pants",
        "status": "Statuss",
        "best": "Labākais vērtējums",
        "evidence": "Pierādījumi",
        "candidates": "Tuvākie kandidāti (zem sliekšņa)",
        "none": "nav vienību",
        PRESENT: "ir",
        MISSING: "nav atrasts",
        NOT_COVERED: "šī modeļa birkas to neaptver",
        "summary": "{present} no {total} vienībām ir, {missing} nav atrastas, "
        "{not_covered} šī modeļa birkas neaptver",
        "meta": "Dokuments {doc} ({units} vienības), modelis {model}.",
        "note": "Automātiska pārbaude, nevis juridiska konsultācija: "
        "pirms paļaušanās pārbaudiet pierādījumus.",
        "unit": "vienība",
    },
}

_LV_LETTERS = re.compile(r"[āčēģīķļņšūžĀČĒĢĪĶĻŅŠŪŽ]")
_LETTERS = re.compile(r"[^\W\d_]")


def guess_language(text: str) -> str:
    """ "lv" when Latvian diacritics are frequent (≥ 1 % of letters), else "en".

    Only picks the report's wording; segmentation without ``--lang`` already
    knows both languages' abbreviations.
    """
    letters = len(_LETTERS.findall(text[:20000]))
    return "lv" if letters and len(_LV_LETTERS.findall(text[:20000])) / letters >= 0.01 else "en"


class ScoredUnit(Protocol):
    """What coverage needs of a tagged unit (``TaggedUnit`` fits)."""

    index: int
    text: str
    labels: list[str]
    scores: dict[str, float]


@dataclass(frozen=True)
class Evidence:
    unit: int
    text: str
    label: str
    score: float
    above_threshold: bool


@dataclass(frozen=True)
class ItemCoverage:
    key: str
    article: str
    title: str
    status: str
    labels: list[str]
    labels_missing_from_model: list[str]
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(frozen=True)
class CoverageReport:
    doc: str
    source: str
    model: str
    lang: str
    units: int
    items: list[ItemCoverage]

    def counts(self) -> dict[str, int]:
        """How many items are present, missing and not covered."""
        out = {PRESENT: 0, MISSING: 0, NOT_COVERED: 0}
        for item in self.items:
            out[item.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": {**self.counts(), "total": len(self.items)}}


def _evidence(units: Sequence[ScoredUnit], labels: Sequence[str], top_k: int) -> list[Evidence]:
    """The ``top_k`` units by their best score over the item's labels, hits first."""
    scored = []
    for u in units:
        label = max(labels, key=lambda x: u.scores.get(x, 0.0))
        hit = any(x in u.labels for x in labels)
        scored.append(Evidence(u.index, u.text, label, float(u.scores.get(label, 0.0)), hit))
    scored.sort(key=lambda e: (not e.above_threshold, -e.score, e.unit))
    return scored[:top_k]


def item_coverage(
    item: Art13Item, units: Sequence[ScoredUnit], model_labels: Sequence[str], lang: str, top_k: int
) -> ItemCoverage:
    """Present when any unit carries one of the item's labels (the model's thresholds decide)."""
    usable = [x for x in item.labels if x in model_labels]
    absent = [x for x in item.labels if x not in model_labels]
    title = item.title.get(lang, item.title["en"])
    if not usable:
        return ItemCoverage(item.key, item.article, title, NOT_COVERED, list(item.labels), absent)
    evidence = _evidence(units, usable, top_k)
    status = PRESENT if evidence and evidence[0].above_threshold else MISSING
    return ItemCoverage(item.key, item.article, title, status, usable, absent, evidence)


def coverage(
    units: Sequence[ScoredUnit],
    model_labels: Sequence[str],
    doc: str,
    source: str = "",
    model: str = "",
    lang: str | None = None,
    top_k: int = 3,
    items: Sequence[Art13Item] = ART13_ITEMS,
) -> CoverageReport:
    """The Art. 13 report of one tagged document."""
    lang = lang if lang in LANGUAGES else guess_language(" ".join(u.text for u in units))
    rows = [item_coverage(item, units, model_labels, lang, top_k) for item in items]
    return CoverageReport(doc, source, model, lang, len(units), rows)


# --------------------------------------------------------------------------- rendering


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: Markdown's inline punctuation: a backslash before each keeps it literal (CommonMark escapes),
#: so policy text cannot open a link or image (``[``, ``!``), emphasis, code or a table cell.
_MD_SPECIALS = re.compile(r"([\\`*_\[\]!|~{}])")


def _md_cell(text: str) -> str:
    """Policy text in Markdown, inert: HTML escaped (a policy's ``<script>`` or ``<https://…>`` stays
    text), Markdown punctuation backslash-escaped (``![x](http://…)`` is no tracking pixel, ``[x](…)``
    no link), terminal controls neutralised, newlines joined."""
    escaped = _MD_SPECIALS.sub(r"\\\1", html.escape(printable(text), quote=False))
    return " ".join(escaped.splitlines())


def _md_code(text: str) -> str:
    """A code span that no backtick in ``text`` can end early (terminal controls neutralised)."""
    text = printable(text)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{' '.join(text.splitlines())}{pad}{fence}"


def render_json(report: CoverageReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


def render_markdown(report: CoverageReport) -> str:
    """A table for a glance, then the evidence per item for checking it."""
    t = TEXTS[report.lang]
    counts = report.counts()
    lines = [
        f"# {t['title']}: {_md_cell(report.doc)}",
        "",
        t["meta"].format(doc=_md_code(report.doc), units=report.units, model=_md_code(report.model)),
        "",
        f"**{t['summary'].format(total=len(report.items), **counts)}**",
        "",
        f"| {t['item']} | {t['article']} | {t['status']} | {t['best']} |",
        "|---|---|---|---:|",
    ]
    for item in report.items:
        best = f"{item.evidence[0].score:.3f}" if item.evidence else "–"
        mark = {PRESENT: "✅", MISSING: "❌", NOT_COVERED: "➖"}[item.status]
        lines.append(f"| {_md_cell(item.title)} | {item.article} | {mark} {t[item.status]} | {best} |")
    for item in report.items:
        lines += ["", f"## {_md_cell(item.title)} ({item.article}): {t[item.status]}", ""]
        if item.status == NOT_COVERED:
            lines.append(f"- ({', '.join(item.labels_missing_from_model)})")
            continue
        lines.append(f"*{t['evidence'] if item.status == PRESENT else t['candidates']}:*")
        lines.append("")
        lines += [
            f"- {t['unit']} {e.unit}, {_md_code(e.label)} {e.score:.3f}: {_md_cell(_short(e.text))}"
            for e in item.evidence
        ] or [f"- {t['none']}"]
    lines += ["", f"_{t['note']}_", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.present{color:#17692b}.missing{color:#a4161a}.not_covered{color:#666}.score{text-align:right}
li{margin:.2rem 0}"""


def render_html(report: CoverageReport) -> str:
    """A self-contained page; every piece of policy text is escaped."""
    t = TEXTS[report.lang]
    e = html.escape
    counts = report.counts()
    rows = []
    for item in report.items:
        best = f"{item.evidence[0].score:.3f}" if item.evidence else "–"
        rows.append(
            f'<tr><td><a href="#{e(item.key)}">{e(item.title)}</a></td><td>{e(item.article)}</td>'
            f'<td class="{item.status}">{e(t[item.status])}</td><td class="score">{best}</td></tr>'
        )
    sections = [_html_section(item, t) for item in report.items]
    meta = t["meta"].format(doc=report.doc, units=report.units, model=report.model)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{e(report.lang)}"><head><meta charset="utf-8">',
            f"<title>{e(t['title'])}: {e(report.doc)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{e(t['title'])}: {e(report.doc)}</h1>",
            f"<p>{e(meta)}</p>",
            f"<p><strong>{e(t['summary'].format(total=len(report.items), **counts))}</strong></p>",
            f"<table><thead><tr><th>{e(t['item'])}</th><th>{e(t['article'])}</th>"
            f"<th>{e(t['status'])}</th><th>{e(t['best'])}</th></tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            *sections,
            f"<p><em>{e(t['note'])}</em></p>",
            "</body></html>",
            "",
        ]
    )


def _html_section(item: ItemCoverage, t: dict[str, str]) -> str:
    e = html.escape
    head = f'<h2 id="{e(item.key)}">{e(item.title)} ({e(item.article)}): {e(t[item.status])}</h2>'
    if item.status == NOT_COVERED:
        return f"{head}<p>({e(', '.join(item.labels_missing_from_model))})</p>"
    caption = t["evidence"] if item.status == PRESENT else t["candidates"]
    lis = [
        f"<li>{e(t['unit'])} {ev.unit}, <code>{e(ev.label)}</code> {ev.score:.3f}: {e(_short(ev.text))}</li>"
        for ev in item.evidence
    ] or [f"<li>{e(t['none'])}</li>"]
    return f"{head}<p><em>{e(caption)}:</em></p><ul>{''.join(lis)}</ul>"


RENDERERS = {"md": render_markdown, "html": render_html, "json": render_json}
