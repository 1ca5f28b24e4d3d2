"""Field borders reach 3:1 against every background a field sits on (WCAG 1.4.11), both themes."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[1] / "static" / "app.css").read_text(encoding="utf-8")
# Where fields appear: inside cards (--surface), on the page (--bg), in a muted row.
BACKGROUNDS = ("--surface", "--bg", "--surface-muted")


def theme(block_start: str) -> dict[str, str]:
    block = CSS[CSS.index(block_start) :]
    block = block[: block.index("}")]
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6});", block))


THEMES = {
    "light": theme(":root {"),
    "dark": {**theme(":root {"), **theme("@media (prefers-color-scheme: dark) {\n  :root {")},
}


def luminance(color: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("name", THEMES)
@pytest.mark.parametrize("background", BACKGROUNDS)
def test_field_borders_reach_3_to_1(name: str, background: str) -> None:
    colors = THEMES[name]
    assert contrast(colors["--field-border"], colors[background]) >= 3


def test_inputs_use_the_field_border() -> None:
    rule = CSS[CSS.index("\ninput {") :]
    rule = rule[: rule.index("}")]
    assert "border: 1px solid var(--field-border);" in rule
