"""Small Markdown helpers: tables and number formatting."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def interval(low: float, high: float, digits: int = 3, as_percent: bool = False) -> str:
    if as_percent:
        return f"[{low:.1%}, {high:.1%}]"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def signed(value: float | None, digits: int = 3, as_percent: bool = False, significant: bool = False) -> str:
    """A difference with its sign; ``significant`` formats to ``digits`` significant digits."""
    if value is None:
        return "n/a"
    if as_percent:
        return f"{value * 100:+.1f} pp"
    return f"{value:+.{digits}g}" if significant else f"{value:+.{digits}f}"
