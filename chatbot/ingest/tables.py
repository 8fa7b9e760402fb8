"""Tables as self-contained lines, for every loader.

A table row reaches a chunk as one line in which each cell is named by its column's header
("Plan: Drivo Plus | Per minute: €0.28 | Monthly fee: €9"), wherever the table sits in the document: when
the splitter or the excerpt selector cuts the table, a row quoted on its own still says what its numbers
mean. The loaders only find the table (HTML, DOCX, CSV and Markdown say where it is; PDF and plain-text
pages are searched for runs of lines whose cells line up in columns) and hand its rows to `table_lines`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

CELL_SEPARATOR = " | "
# a cell that reads like a value rather than a column name: it starts with a number, a price or a date
_VALUE = re.compile(r"^[^\w\s]{0,3}\s?\d")
# a Markdown table's rule line under its header: | --- | :---: |
_MD_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
# a list's bullet or number ("•", "2.", "b)"): a column of these beside text is a list, not a table
_LIST_MARKER = re.compile(r"^(?:[^\w\s]|\(?\d{1,3}[.)]?|\(?[a-zA-Z][.)])$")
# a laid-out cell: words separated by single spaces (cells are separated by two or more)
_LAID_OUT_CELL = re.compile(r"\S+(?: \S+)*")


def _cell(text: object) -> str:
    """A cell's text on one line; a "|" inside it becomes "/", so " | " only ever separates cells."""
    return " ".join(str(text or "").replace("|", "/").split())


def looks_like_header(cells: Sequence[str]) -> bool:
    """Whether a table's first row names its columns: short labels, none reading like a value.

    >>> looks_like_header(["Plan", "Per minute"]), looks_like_header(["Monthly fee", "€9"])
    (True, False)
    """
    named = [c for c in cells if c]
    return len(named) >= 2 and not any(_VALUE.match(c) or len(c) > 60 for c in named)


def table_lines(rows: Sequence[Sequence[object]], header: bool | None = None) -> list[str]:
    """One line per row, each cell named by its column's header (the first row), empty cells left out.

    `header`: whether the first row is a header; None guesses it (`looks_like_header`). A first row
    holding one title over a wider table ("Prices 2024", "", "") becomes its own line and the next row is
    the header. Rows repeating the header (a header repeated on every page) are dropped. Without a header,
    a two-column table reads as "Key: value" lines, a wider one as its cells joined by " | ".

    >>> table_lines([["Plan", "Per minute", "Monthly fee"], ["Drivo Plus", "€0.28", "€9"], ["Go", "€0.35", ""]])
    ['Plan: Drivo Plus | Per minute: €0.28 | Monthly fee: €9', 'Plan: Go | Per minute: €0.35']
    >>> table_lines([["", "Metro", "Trail"], ["Weight", "24 kg", "19 kg"]])
    ['Weight | Metro: 24 kg | Trail: 19 kg']
    >>> table_lines([["Monthly fee", "€9"], ["Per minute", "€0.28"]])
    ['Monthly fee: €9', 'Per minute: €0.28']
    """
    grid = [[_cell(c) for c in row] for row in rows]
    grid = [row for row in grid if any(row)]
    lines: list[str] = []
    if len(grid) > 1 and grid[0][0] and not any(grid[0][1:]) and max(len(r) for r in grid[1:]) > 1:
        lines.append(grid.pop(0)[0])  # a title row spanning the table
    if not grid:
        return lines
    if header is None:
        header = len(grid) > 1 and looks_like_header(grid[0])
    names = grid[0] if header else []
    if header and len(grid) == 1:
        return lines + [CELL_SEPARATOR.join(c for c in names if c)]
    for row in grid[1:] if header else grid:
        if header and row == names:
            continue
        if names:
            cells = [f"{names[i].rstrip(':')}: {cell}" if i < len(names) and names[i] and names[i] != cell else cell
                     for i, cell in enumerate(row) if cell]
        elif len(row) == 2 and all(row):
            cells = [f"{row[0].rstrip(':')}: {row[1]}"]
        else:
            cells = [cell for cell in row if cell]
        lines.append(CELL_SEPARATOR.join(cells))
    return lines


def is_table_row(line: str) -> bool:
    """Whether a line is a row made by `table_lines` with named cells (the splitter keeps such a row whole
    where it can).

    >>> is_table_row("Plan: Go | Per minute: €0.35"), is_table_row("Call us: 9-5, or write.")
    (True, False)
    """
    return CELL_SEPARATOR in line and ": " in line


def fit_rows(text: str, size: int) -> str:
    """`text` with each table row longer than `size` characters cut between its cells into lines that
    each start with the row's first cell, so a splitter cutting at line ends keeps every part of the row
    saying which row it is (a cell longer than `size` on its own is still cut by the splitter).

    >>> print(fit_rows("Plan: Plus | Fee: €9 | Notes: no deposit | Extra: free parking", 40))
    Plan: Plus | Fee: €9 | Notes: no deposit
    Plan: Plus | Extra: free parking
    """
    out: list[str] = []
    for line in text.split("\n"):
        cells = line.split(CELL_SEPARATOR)
        if len(line) <= size or len(cells) < 3 or not is_table_row(line):
            out.append(line)
            continue
        part = cells[:2]
        for cell in cells[2:]:
            if len(CELL_SEPARATOR.join([*part, cell])) > size:
                out.append(CELL_SEPARATOR.join(part))
                part = [cells[0]]
            part.append(cell)
        out.append(CELL_SEPARATOR.join(part))
    return "\n".join(out)


def _split_markdown_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", line)]


def markdown_tables(lines: Sequence[str]) -> list[str]:
    """Lines with each Markdown table (a header row, a |---| rule of as many cells, rows) replaced by
    `table_lines`.

    >>> markdown_tables(["Our prices:", "| Plan | Per minute |", "|---|--:|", "| Plus | €0.28 |", "", "Done."])
    ['Our prices:', 'Plan: Plus | Per minute: €0.28', '', 'Done.']
    >>> markdown_tables(["Red | green", "---"])  # a rule under a line, not a table's header
    ['Red | green', '---']
    """
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        rule = lines[i + 1] if i + 1 < len(lines) else ""
        if "|" in line and _MD_RULE.match(rule) and "-" in rule \
                and len(_split_markdown_row(rule)) == len(_split_markdown_row(line)):
            rows = [_split_markdown_row(line)]
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_split_markdown_row(lines[i]))
                i += 1
            out.extend(table_lines(rows, header=True))
            continue
        out.append(line)
        i += 1
    return out


def _laid_out_cells(line: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _LAID_OUT_CELL.finditer(line)]


def _within(cell: tuple[int, int, str], columns: Sequence[tuple[int, int]]) -> int | None:
    """The column a cell sits in (it overlaps it and stays clear of its neighbours), else None."""
    for index, (start, end) in enumerate(columns):
        if cell[0] <= end and cell[1] >= start:
            clear_left = index == 0 or cell[0] > columns[index - 1][1]
            clear_right = index + 1 == len(columns) or cell[1] < columns[index + 1][0]
            return index if clear_left and clear_right else None
    return None


@dataclass(frozen=True)
class OpenTable:
    """A laid-out table that runs to the end of a page: its header and column spans, so that its rows on
    the next page, where the header is often not repeated, are still named."""

    header: tuple[str, ...]
    columns: tuple[tuple[int, int], ...]


def aligned_tables(lines: Sequence[str], min_rows: int = 2, carried: OpenTable | None = None,
                   pieces: Collection[str] = ()) -> tuple[list[str], int, OpenTable | None]:
    """(lines, tables found, the table left open at the end): runs of lines laid out in columns replaced
    by `table_lines`.

    A run starts at a line of two or more cells (separated by two or more spaces); it goes on over lines
    whose cells stay clear of each other's columns (a gap runs down between every two columns). A line
    of fewer cells is a row with empty cells when it has the first column, otherwise the wrapped part of
    a cell: it joins the row above, or the row below when it starts in upper case and that row's cell
    goes on in lower case (the cell is aligned to the bottom). `min_rows`: rows a run needs besides its
    first line. Not tables: runs in which every column holds long text (prose set in two columns), and
    runs whose first column holds only bullets or numbers (a list). Other lines are returned unchanged.
    `carried`: the previous page's open table; a run near the top of this page in its columns continues it.
    `pieces`: the page's lines as plain extraction gives them, each cell on its own: where the layout ran
    two cells together ("integrated lights2 years") a row is cut where they meet.

    >>> text = ["Rates", "Plan          Per minute     Monthly fee", "Drivo Go      €0.35",
    ...         "Drivo Plus    €0.28          €9", "              (€0.25 nights)", "Prices include VAT."]
    >>> lines, found, _ = aligned_tables(text, min_rows=1)
    >>> lines
    ['Rates', 'Plan: Drivo Go | Per minute: €0.35', \
'Plan: Drivo Plus | Per minute: €0.28 (€0.25 nights) | Monthly fee: €9', 'Prices include VAT.']
    >>> page_one = aligned_tables(text[:4])[2]
    >>> aligned_tables(["Drivo Max      €0.19          €29", "", "3"], carried=page_one)[0]
    ['Plan: Drivo Max | Per minute: €0.19 | Monthly fee: €29', '', '3']
    """
    out: list[str] = []
    found = 0
    left_open: OpenTable | None = None
    i = 0
    while i < len(lines):
        first = _laid_out_cells(lines[i])
        top_of_page = sum(1 for line in lines[:i] if line.strip()) < 3
        if carried and top_of_page and len(first) == len(carried.columns) \
                and all(_within(cell, carried.columns) == k for k, cell in enumerate(first)):
            rows, j, columns = _run(lines, i + 1, list(carried.columns), [list(carried.header), _texts(first)],
                                    pieces)
            header: bool | None = True
        elif len(first) >= 2:
            rows, j, columns = _run(lines, i + 1, [(start, end) for start, end, _ in first], [_texts(first)], pieces)
            header = looks_like_header(rows[0])
            if len(rows) <= min_rows or _prose_columns(rows) or all(_LIST_MARKER.match(r[0]) for r in rows):
                header = None
        else:
            header = None
        if header is None:
            out.append(lines[i])
            i += 1
            continue
        out.extend(table_lines(rows, header=header))
        found += 1
        left_open = None
        if header and sum(1 for line in lines[j:] if line.strip()) <= 2:  # at most a footer follows
            left_open = OpenTable(tuple(rows[0]), tuple(columns))
        i = j
    return out, found, left_open


def _texts(cells: Sequence[tuple[int, int, str]]) -> list[str]:
    return [text for _, _, text in cells]


def _run(lines: Sequence[str], j: int, columns: list[tuple[int, int]], rows: list[list[str]],
         pieces: Collection[str] = ()) -> tuple[list[list[str]], int, list[tuple[int, int]]]:
    """(rows, index of the first line after the run, column spans): a table's lines from `lines[j]` on."""
    pending: list[tuple[int, str]] = []  # wrapped parts of cells, waiting for the row they belong to
    while j < len(lines):
        cells = _laid_out_cells(lines[j])
        if pieces and 0 < len(cells) < len(columns) and len(unfused := _unfuse(cells, pieces)) == len(columns):
            cells = unfused
            places = list(range(len(cells)))
            columns = [(min(s, c[0]), max(e, c[1])) for (s, e), c in zip(columns, cells, strict=True)]
        elif len(cells) == len(columns) and _lines_up(columns, cells):
            places = list(range(len(cells)))
            columns = [(min(s, c[0]), max(e, c[1])) for (s, e), c in zip(columns, cells, strict=True)]
        elif not cells or None in (places := [_within(cell, columns) for cell in cells]) \
                or len(set(places)) < len(places):
            break
        if 0 not in places:
            pending.extend((place, text) for place, (_, _, text) in zip(places, cells, strict=True))
            j += 1
            continue
        row = [""] * len(columns)
        for place, (_, _, text) in zip(places, cells, strict=True):
            row[place] = text
        for place in sorted({place for place, _ in pending}):
            text = " ".join(t for p, t in pending if p == place)
            if row[place][:1].islower() and not text[:1].islower():
                row[place] = f"{text} {row[place]}"
            else:
                rows[-1][place] = f"{rows[-1][place]} {text}".strip()
        pending = []
        rows.append(row)
        j += 1
    for place, text in pending:
        rows[-1][place] = f"{rows[-1][place]} {text}".strip()
    return rows, j, columns


def _unfuse(cells: Sequence[tuple[int, int, str]], pieces: Collection[str]) -> list[tuple[int, int, str]]:
    """`cells` with each one that is two `pieces` run together cut in two.

    >>> _unfuse([(4, 27, "Gears and lights2 years")], {"Gears and lights", "2 years"})
    [(4, 20, 'Gears and lights'), (20, 27, '2 years')]
    """
    out: list[tuple[int, int, str]] = []
    for start, end, text in cells:
        cut = next((k for k in range(1, len(text)) if text[:k].strip() in pieces and text[k:].strip() in pieces), 0)
        if cut:
            out += [(start, start + cut, text[:cut].strip()), (start + cut, end, text[cut:].strip())]
        else:
            out.append((start, end, text))
    return out


def _prose_columns(rows: Sequence[Sequence[str]]) -> bool:
    """Whether every column holds long text (five words or more a cell on average): prose in columns."""
    return all(sum(len(row[k].split()) for row in rows) >= 5 * len(rows) for k in range(len(rows[0])))


def _lines_up(columns: Sequence[tuple[int, int]], cells: Sequence[tuple[int, int, str]]) -> bool:
    """Whether each cell stays clear of the neighbouring columns' spans (a gap runs down between columns)."""
    for index, (c_start, c_end, _) in enumerate(cells):
        if index + 1 < len(columns) and c_end >= columns[index + 1][0]:
            return False
        if index and c_start <= columns[index - 1][1]:
            return False
    return True
