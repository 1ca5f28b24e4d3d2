"""Static checks of the pages: CSP-safe markup, test hooks, labels and complete translations."""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[1]
COMMON_JS = FRONTEND / "static" / "js" / "common.js"
PAGES = {
    "/": FRONTEND / "index.html",
    "/number_input/": FRONTEND / "number_input" / "index.html",
    "/otp_input/": FRONTEND / "otp_input" / "index.html",
    "/profile/": FRONTEND / "profile" / "index.html",
    "/admin/": FRONTEND / "admin" / "index.html",
}
HOOKS: dict[str, set[str]] = {
    "/": set(),
    "/number_input/": {
        "login-card",
        "checking",
        "phone-form",
        "phone",
        "phone-submit",
        "invite-banner",
        "invite-banner-code",
    },
    "/otp_input/": {
        "otp-form",
        "otp",
        "otp-submit",
        "otp-validity",
        "resend",
        "countdown",
        "dev-sms",
        "dev-sms-code",
        "invite-banner",
        "invite-banner-code",
    },
    "/profile/": {
        "user-id",
        "user-phone",
        "invite-code",
        "copy-code",
        "activated-code",
        "activate-form",
        "invite-code-input",
        "activate-submit",
        "activate-error",
        "activate-status",
        "invited-count",
        "invited-summary",
        "invited-csv",
        "invited-list",
        "show-more",
        "logout",
        "invite-note",
        "share-url",
        "copy-share-url",
        "share-status",
        "share-link",
        "share-qr",
        "stats-visits",
        "stats-unique",
        "stats-activations",
        "stats-conversion",
    },
    "/admin/": {
        "console",
        "search-form",
        "search-q",
        "search-submit",
        "search-error",
        "results-body",
        "results-more",
        "user-card",
        "card-heading",
        "card-id",
        "card-phone",
        "card-ban",
        "card-lock",
        "card-chain",
        "card-invitees",
        "card-sessions",
        "card-error",
        "card-status-message",
        "card-close",
        "ban-form",
        "ban-reason",
        "ban-until",
        "ban-submit",
        "unban",
        "unlock",
        "stats-section",
        "days-7",
        "days-30",
        "days-90",
        "totals",
        "charts",
        "top-inviters",
        "audit-section",
        "audit-form",
        "audit-type",
        "audit-user",
        "audit-submit",
        "audit-body",
        "audit-more",
    },
}
# Inputs that are not for digits only, and what the keyboard should offer instead.
TEXT_INPUTS = {
    "invite-code-input": None,
    # A phone prefix with +, spaces, brackets and dashes, or an id.
    "search-q": "tel",
    "ban-until": None,
}
# Every error code of the public contract that a page can meet, shown in words.
CONTRACT_ERROR_CODES = {
    "invalid_phone",
    "too_many_requests",
    "invalid_otp_format",
    "invalid_otp",
    "otp_expired",
    "not_authenticated",
    "upstream_unavailable",
    "invalid_invite_code_format",
    "invite_code_not_found",
    "own_invite_code",
    "invite_code_already_activated",
    "referral_cycle",
    "forbidden",
    "user_banned",
    "user_not_found",
    "invalid_query",
    "invalid_cursor",
    "invalid_ban",
    "cannot_ban_self",
    "invalid_days",
    "invalid_type",
}


@dataclass
class Page:
    elements: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    inline_scripts: int = 0

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        matches = [e for e in self.elements if e[1].get("id") == element_id]
        assert len(matches) == 1, f"#{element_id} appears {len(matches)} times"
        return matches[0]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.page.inline_scripts += 1


def parse(path: Path) -> Page:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector.page


def dictionary_keys() -> dict[str, set[str]]:
    source = COMMON_JS.read_text(encoding="utf-8")
    body = source[source.index("const DICTIONARY = {") :]
    ru, en = body.split("\n  en: {", 1)
    en = en.split("\n};", 1)[0]
    key = re.compile(r'^\s{4}"([\w.]+)":', re.MULTILINE)
    return {"ru": set(key.findall(ru)), "en": set(key.findall(en))}


@pytest.fixture(scope="module")
def keys() -> dict[str, set[str]]:
    return dictionary_keys()


@pytest.mark.parametrize("url", PAGES)
def test_page_is_csp_safe(url: str) -> None:
    page = parse(PAGES[url])
    assert page.inline_scripts == 0
    for tag, attrs in page.elements:
        assert tag != "style"
        assert "style" not in attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("src", "href"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//")), attrs


@pytest.mark.parametrize("url", PAGES)
def test_page_assets_exist(url: str) -> None:
    page = parse(PAGES[url])
    scripts = [a["src"] for t, a in page.elements if t == "script"]
    links = {a["rel"]: a["href"] for t, a in page.elements if t == "link"}
    assert links["stylesheet"] == "/static/app.css"
    assert links["icon"] == "/static/favicon.svg"
    assert len(scripts) == 1
    for asset in [*scripts, *links.values()]:
        assert (FRONTEND / asset.lstrip("/")).is_file(), asset


@pytest.mark.parametrize("url", PAGES)
def test_page_has_its_test_hooks(url: str) -> None:
    page = parse(PAGES[url])
    assert page.by_id("lang-toggle")[0] == "button"
    assert page.by_id("error")[1].get("role") == "alert"
    for hook in HOOKS[url]:
        page.by_id(hook)


@pytest.mark.parametrize("url", PAGES)
def test_every_input_has_a_label(url: str) -> None:
    page = parse(PAGES[url])
    labelled = {a.get("for") for t, a in page.elements if t == "label"}
    for tag, attrs in page.elements:
        if tag in ("input", "textarea", "select"):
            assert attrs["id"] in labelled, attrs
        if tag == "input":
            expected = TEXT_INPUTS.get(attrs["id"], "numeric")
            assert attrs.get("inputmode") == expected, attrs


def test_code_inputs_help_the_browser() -> None:
    assert parse(PAGES["/number_input/"]).by_id("phone")[1]["autocomplete"] == "tel"
    assert parse(PAGES["/otp_input/"]).by_id("otp")[1]["autocomplete"] == "one-time-code"


@pytest.mark.parametrize("url", PAGES)
def test_page_strings_are_translated(url: str, keys: dict[str, set[str]]) -> None:
    elements = parse(PAGES[url]).elements
    names = ("data-i18n", "data-i18n-alt", "data-i18n-label")
    used = {a[name] for _, a in elements for name in names if name in a}
    assert used
    assert used <= keys["ru"]
    assert used <= keys["en"]


def test_both_languages_have_the_same_keys(keys: dict[str, set[str]]) -> None:
    assert keys["ru"]
    assert keys["ru"] == keys["en"]


def test_every_script_key_is_translated(keys: dict[str, set[str]]) -> None:
    pattern = re.compile(r'(?:setText\([^,]+, |setBusy\([^,]+, true, |key: )"([\w.]+)"')
    used = {
        key
        for script in (FRONTEND / "static" / "js").glob("*.js")
        for key in pattern.findall(script.read_text(encoding="utf-8"))
    }
    assert used
    assert used <= keys["ru"]


def test_contract_errors_have_words(keys: dict[str, set[str]]) -> None:
    assert {f"err.{code}" for code in CONTRACT_ERROR_CODES} <= keys["ru"]


def test_code_fields_have_no_length_limit_that_would_cut_a_paste() -> None:
    """A pasted SMS or " VD6QA8 " must reach the page script whole; the script keeps the code."""
    assert "maxlength" not in parse(PAGES["/otp_input/"]).by_id("otp")[1]
    assert "maxlength" not in parse(PAGES["/profile/"]).by_id("invite-code-input")[1]


def test_the_sign_in_form_waits_for_the_session_check() -> None:
    """A signed-in visitor is sent on to the profile without the form flashing first."""
    assert "hidden" in parse(PAGES["/number_input/"]).by_id("login-card")[1]


def test_the_csv_link_downloads_the_export() -> None:
    attrs = parse(PAGES["/profile/"]).by_id("invited-csv")[1]
    assert attrs["href"] == "/referral_system/api_invited_users.csv"
    assert "download" in attrs and "hidden" in attrs


@pytest.mark.parametrize("url", PAGES)
def test_images_have_alt_text(url: str) -> None:
    """Decorative images say so with an empty alt; the QR code's alt follows the language."""
    for tag, attrs in parse(PAGES[url]).elements:
        if tag == "img":
            assert "alt" in attrs, attrs
            assert attrs["alt"] or attrs["src"] == "/static/favicon.svg", attrs


def test_the_share_controls_wait_for_the_link() -> None:
    """The Web Share button is shown only where the browser has the API; the QR with its link."""
    page = parse(PAGES["/profile/"])
    assert "hidden" in page.by_id("share-link")[1]
    assert page.by_id("share-qr")[1]["data-i18n-alt"] == "profile.qrAlt"
    assert page.by_id("share-status")[1]["role"] == "status"
    assert page.by_id("invite-note")[1]["role"] == "status"


def test_the_console_is_hidden_until_the_caller_is_known_to_be_an_operator() -> None:
    """A visitor without the role is sent to the profile before any of the console shows."""
    page = parse(PAGES["/admin/"])
    assert "hidden" in page.by_id("console")[1]
    assert "hidden" in page.by_id("user-card")[1]
    assert page.by_id("card-status-message")[1]["role"] == "status"
    assert page.by_id("ban-until")[1]["type"] == "datetime-local"
    assert page.by_id("ban-reason")[0] == "textarea"


def test_the_console_tables_scroll_inside_their_card() -> None:
    """At 360 px a table scrolls sideways in a focusable region, not the whole page."""
    elements = parse(PAGES["/admin/"]).elements
    regions = [a for t, a in elements if "table-scroll" in a.get("class", "").split()]
    assert len(regions) == 3
    for attrs in regions:
        assert attrs["tabindex"] == "0" and attrs["role"] == "region", attrs
        assert "aria-labelledby" in attrs or "aria-label" in attrs, attrs
    css = (FRONTEND / "static" / "app.css").read_text(encoding="utf-8")
    rule = css[css.index("\n.table-scroll {") :]
    assert "overflow-x: auto;" in rule[: rule.index("}")]


def test_the_charts_are_drawn_by_the_page_itself() -> None:
    """No chart library and nothing from another origin: the console's own SVG code."""
    script = (FRONTEND / "static" / "js" / "admin.js").read_text(encoding="utf-8")
    imports = re.findall(r'^import .* from "([^"]+)";', script, re.MULTILINE | re.DOTALL)
    assert imports and all(path.startswith("/static/js/") for path in imports), imports
    assert "createElementNS(SVG, name)" in script
