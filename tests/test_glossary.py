"""GLOSSARY.md: the course's Korean/English terms, one line each, with the lesson that introduces them.

Every Korean term a notebook gives in parentheses, e.g. "convolution (합성곱)", must be in the glossary, and every
lesson and lab links the glossary from its introduction (the line under the title, written by helpers.publish).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from helpers.common import REPO_ROOT

GLOSSARY = REPO_ROOT / "GLOSSARY.md"
NOTEBOOKS = sorted(p for folder in ("course", "labs", "solutions") for p in (REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+(?:[ -][\uac00-\ud7a3]+)*")
PARENTHESES = re.compile(r"\(([^()]*)\)")
ROW = re.compile(r"^\|(?P<korean>[^|]*)\|(?P<english>[^|]*)\|(?P<meaning>[^|]*)\|(?P<lesson>[^|]*)\|\s*$")
REQUIRED = {  # the issue's list: Korean -> English
    "합성곱": "convolution", "패딩": "padding", "스트라이드": "stride", "특징 맵": "feature map", "풀링": "pooling",
    "과적합": "overfitting", "정규화": "normalization", "정칙화": "regularization", "드롭아웃": "dropout",
    "배치 정규화": "batch normalization", "데이터 증강": "data augmentation", "전이 학습": "transfer learning",
    "미세 조정": "fine-tuning", "지식 증류": "knowledge distillation",
}


def glossary_rows(text: str) -> list[dict[str, str]]:
    rows = []
    for line in text.splitlines():
        match = ROW.match(line)
        if match and not set(match.group("korean").strip()) <= {"-", " "} and match.group("korean").strip() != "Korean":
            rows.append({k: v.strip() for k, v in match.groupdict().items()})
    return rows


def korean_terms(text: str) -> set[str]:
    """Hangul runs inside parentheses: '(합성곱)' -> 합성곱, '(탐색적 데이터 분석, EDA)' -> 탐색적 데이터 분석."""
    return {run for group in PARENTHESES.findall(text) for run in HANGUL_RUN.findall(group)}


ROWS = glossary_rows(GLOSSARY.read_text(encoding="utf-8"))
TERMS = {row["korean"]: row for row in ROWS}


def test_the_glossary_has_one_row_per_term_with_every_column_filled():
    assert len(ROWS) >= 40
    korean = [row["korean"] for row in ROWS]
    assert len(korean) == len(set(korean)), f"terms listed twice: {sorted({k for k in korean if korean.count(k) > 1})}"
    for row in ROWS:
        assert HANGUL_RUN.fullmatch(row["korean"]), f"{row['korean']!r}: one Korean term per row"
        assert row["english"] and not HANGUL_RUN.search(row["english"]), f"{row['korean']}: English term missing"
        assert len(row["meaning"].split()) >= 5 and row["meaning"].endswith("."), f"{row['korean']}: give a one-line definition"
        assert re.fullmatch(r"\[?0[0-8]\]?(\([^)]*\))?", row["lesson"]), f"{row['korean']}: lesson must be 00-08, got {row['lesson']!r}"


def test_the_issues_terms_are_there_and_the_two_senses_of_normalization_are_kept_apart():
    for korean, english in REQUIRED.items():
        assert korean in TERMS, f"{korean} ({english}) is missing"
        assert TERMS[korean]["english"].startswith(english), f"{korean}: expected {english!r}, got {TERMS[korean]['english']!r}"
    assert "정칙화" in TERMS["정규화"]["meaning"] and "regularization" in TERMS["정규화"]["meaning"].lower()
    assert "normalization" in TERMS["정칙화"]["meaning"].lower(), "the regularization row says it is not normalization"


def test_lesson_links_point_at_existing_lessons():
    for row in ROWS:
        number = re.search(r"\d\d", row["lesson"]).group()
        link = re.search(r"\(([^)]*)\)", row["lesson"])
        lesson = sorted((REPO_ROOT / "course").glob(f"{number}_*.ipynb"))
        if link:
            assert (REPO_ROOT / link.group(1)).is_file(), f"{row['korean']}: {link.group(1)} does not exist"
            assert Path(link.group(1)).name.startswith(number)
        else:
            assert not lesson, f"{row['korean']}: lesson {number} exists now; run python -m helpers.publish to link it"


def test_korean_terms_are_found_the_way_the_notebooks_write_them():
    text = "convolution (합성곱), EDA (탐색적 데이터 분석, EDA), (**평행 이동 불변성**), λ (중요도 λ), 편향 (편향-분산 트레이드오프)"
    assert korean_terms(text) == {"합성곱", "탐색적 데이터 분석", "평행 이동 불변성", "중요도", "편향-분산 트레이드오프"}
    assert korean_terms("합성곱 without parentheses, (English only)") == set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(REPO_ROOT).as_posix() for p in NOTEBOOKS])
def test_every_korean_term_of_a_notebook_is_in_the_glossary(path: Path):
    nb = nbformat.read(path, as_version=4)
    used = set().union(*(korean_terms(cell.source) for cell in nb.cells))
    missing = sorted(used - set(TERMS))
    assert not missing, f"{path.name} uses Korean terms that GLOSSARY.md lacks (add a row for each): {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(REPO_ROOT).as_posix() for p in NOTEBOOKS])
def test_every_notebook_links_the_glossary_from_its_introduction(path: Path):
    intro = nbformat.read(path, as_version=4).cells[0].source
    links = re.findall(r"\]\(([^)]*GLOSSARY\.md)\)", intro)
    assert links, f"{path.name}: the first cell should link the glossary (run python -m helpers.publish)"
    assert all((path.parent / link).resolve() == GLOSSARY for link in links)
