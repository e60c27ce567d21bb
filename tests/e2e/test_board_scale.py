"""The resource board at scale, in a real browser (issue 14, item 4): with 20 pools and 30 profiles
every card can be reached, a profile connects by drag to a pool far off screen (the board scrolls
by itself), the lines stay on their cards whatever the scroll, zoom or window size, and no name
breaks inside a word. Screenshots go to $PORTAL_SHOTS (if set)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from resources.models import Link
from tests.factories import UserFactory, make_workspace
from tests.resources.helpers import provision_config

from .conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("PORTAL_SHOTS", "")
LONG_WORD = "p5_48xlarge_reserved_capacity_block_eu_west_1_training"  # one word, wider than a card


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=False)


def pool_name(i: int) -> str:
    if i == 7:
        return LONG_WORD
    return f"Pool {i:02d} " + ("g5.48xlarge" if i % 3 == 0 else "H100 Half a Superpod")


def profile_name(i: int) -> str:
    return f"Profile {i:02d} " + ("g5.48xlarge spot" if i % 4 == 0 else "4xGPU")


@pytest.fixture
def big_board(transactional_db):
    """20 pools and 30 profiles; each profile connected to one pool, the first pool to eight."""
    admin = UserFactory(email="scale@example.com", username="scale")
    workspace = make_workspace(owner=admin, name="Big Lab")
    pools = {pool_name(i): 8 for i in range(20)}
    profiles = {profile_name(i): 1 for i in range(30)}
    pairs = {(i, (i * 7) % 20) for i in range(1, 30)} | {(i, 0) for i in range(0, 30, 4)}
    links = [(f"link {i:02d}-{j:02d}", profile_name(i), pool_name(j)) for i, j in sorted(pairs)]
    provision_config(workspace, admin, pools=pools, profiles=profiles, links=links)
    return workspace, admin


# Every line's two ends, in page coordinates, next to the boxes of the two cards it joins.
LINE_ENDS = """() => {
  const svg = document.querySelector("#rc-board svg.rc-lines");
  const at = svg.getBoundingClientRect();
  const scale = at.height / svg.height.baseVal.value;
  const box = (scope, key) => {
    const li = document.querySelector(`ol[data-scope=${scope}] > li[data-item="${key}"]`);
    const r = li.closest(".rc-card").getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  };
  return Array.from(svg.querySelectorAll(".rc-line"), (line) => {
    const n = line.querySelector("path").getAttribute("d").match(/-?[0-9.]+/g).map(Number);
    const point = (x, y) => ({x: at.left + x * scale, y: at.top + y * scale});
    return {key: line.dataset.link, start: point(n[0], n[1]), end: point(n[n.length - 2], n[n.length - 1]),
            pool: box("pool", line.dataset.link), profile: box("profile", line.dataset.link)};
  });
}"""


def assert_lines_attached(page: Page, when: str) -> int:
    lines = page.evaluate(LINE_ENDS)
    assert lines, when
    for line in lines:
        start, end, pool, profile = line["start"], line["end"], line["pool"], line["profile"]
        assert pool["left"] <= start["x"] <= pool["right"], (when, line)
        assert abs(start["y"] - pool["bottom"]) <= 1.5, (when, line)
        assert profile["left"] <= end["x"] <= profile["right"], (when, line)
        assert abs(end["y"] - profile["top"]) <= 1.5, (when, line)
    return len(lines)


# Names that wrap: every line after the first starts after a space or a hyphen (never inside a
# word), and a name cut off on screen carries its full text as its title.
NAME_BREAKS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("#rc-board .rc-card h3, #rc-board .rc-item-name, #rc-board .rc-item-sub")) {
    const style = getComputedStyle(el);
    if (style.overflowWrap !== "normal" || !["normal", "keep-all"].includes(style.wordBreak))
      bad.push(`${el.textContent}: overflow-wrap ${style.overflowWrap}, word-break ${style.wordBreak}`);
    const text = el.firstChild;
    if (!text || text.nodeType !== Node.TEXT_NODE) continue;
    const range = document.createRange();
    let top = null;
    for (let i = 0; i < text.length; i++) {
      range.setStart(text, i); range.setEnd(text, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect || rect.width === 0) continue;
      if (top !== null && rect.top > top + 2 && !/[\\s-]/.test(text.data[i - 1]))
        bad.push(`${text.data} breaks before “${text.data.slice(i)}”`);
      top = rect.top;
    }
    const cut = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
    if (cut && el.title !== el.textContent.trim()) bad.push(`${el.textContent} is cut off without a title`);
  }
  return bad;
}"""


def scroll_box(page: Page, left: int | str) -> None:
    page.evaluate(
        "(left) => { const b = document.querySelector('#rc-board .rc-scroll');"
        " b.scrollLeft = left === 'end' ? b.scrollWidth : left; }",
        left,
    )
    page.wait_for_timeout(100)  # the redraw waits for the next frame


def test_a_board_of_20_pools_and_30_profiles_stays_usable(page: Page, live_server, big_board):
    workspace, admin = big_board
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server.url, admin.email)
    page.goto(f"{live_server.url}/w/{workspace.slug}/resources/editor/")
    pools, profiles = page.get_by_test_id("pool-card"), page.get_by_test_id("profile-card")
    expect(pools).to_have_count(20)
    expect(profiles).to_have_count(30)
    board = page.locator("#rc-board .rc-scroll")

    # The board never widens the page; its box fits on screen, so its scrollbars are in sight.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    board.evaluate("(b) => b.scrollIntoView({block: 'start'})")
    box = board.bounding_box()
    assert box["height"] <= 900 and board.evaluate("(b) => b.scrollWidth > b.clientWidth")
    expect(page.locator("svg.rc-lines")).to_be_in_viewport()  # taller than its box: the lines in sight
    shot(page, "board-scale-1440")

    # Every card can be reached: scrolled into view, its name is on screen.
    for cards in (pools, profiles):
        for i in range(cards.count()):
            card = cards.nth(i)
            card.scroll_into_view_if_needed()
            expect(card.locator("h3")).to_be_in_viewport()

    # Names wrap between words, or end in "…" with the whole name as title and accessible name.
    assert page.evaluate(NAME_BREAKS) == []
    long_card = page.get_by_role("article", name=LONG_WORD)
    expect(long_card).to_have_count(1)
    expect(long_card.locator("h3")).to_have_attribute("title", LONG_WORD)
    assert long_card.locator("h3").evaluate("(h) => h.scrollWidth > h.clientWidth")  # it is cut

    # The lines stay on their cards: scrolled, zoomed out, zoomed to fit, in a narrow window.
    scroll_box(page, 0)
    count = assert_lines_attached(page, "at the start")
    assert count == Link.objects.filter(workspace=workspace).count()
    scroll_box(page, 2500)
    assert_lines_attached(page, "scrolled")
    scroll_box(page, "end")
    assert_lines_attached(page, "scrolled to the end")
    page.get_by_role("button", name="Zoom out").click()
    expect(page.locator(".rc-zoom-level")).to_have_text("90%")
    page.wait_for_timeout(100)
    assert_lines_attached(page, "at 90%")
    page.get_by_role("button", name="Fit").click()
    page.wait_for_timeout(100)
    assert_lines_attached(page, "fitted")
    assert board.evaluate("(b) => b.scrollWidth <= b.clientWidth + 1")  # all of it on screen
    shot(page, "board-scale-1440-fit")
    page.get_by_role("button", name="100%").click()
    expect(page.locator(".rc-zoom-level")).to_have_text("100%")

    # Drag a profile on the left onto the last pool, far to the right: the board scrolls while
    # the pointer rests near its right edge, until the pool is there to drop on.
    scroll_box(page, 0)
    source = profiles.filter(has_text=profile_name(1)).locator(".rc-link-handle")
    target = pools.nth(19)
    source.scroll_into_view_if_needed()
    board_box = board.bounding_box()
    assert target.bounding_box()["x"] > board_box["x"] + board_box["width"]  # off screen
    handle = source.bounding_box()
    page.mouse.move(handle["x"] + 10, handle["y"] + 8)
    page.mouse.down()
    page.mouse.move(handle["x"] + 30, handle["y"] - 20, steps=3)
    gap = page.locator("svg.rc-lines").bounding_box()  # between the rows
    # 36 px in from the edge: inside the board's own edge zone (60 px), outside the browser's (20 px).
    page.mouse.move(board_box["x"] + board_box["width"] - 36, gap["y"] + gap["height"] / 2, steps=8)
    page.wait_for_function(
        """() => { const b = document.querySelector('#rc-board .rc-scroll').getBoundingClientRect();
                   const cards = document.querySelectorAll('[data-testid=pool-card]');
                   const r = cards[cards.length - 1].getBoundingClientRect();
                   return r.right <= b.right && r.left >= b.left; }""",
        timeout=15000,
    )
    goal = target.bounding_box()
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] - 30, steps=5)
    page.mouse.up()
    dialog = page.locator("#modal")
    expect(dialog.get_by_role("heading", name="Connect Profile")).to_be_visible()
    expect(dialog.get_by_label("Pool")).to_have_value(target.get_attribute("data-pool"))
    dialog.get_by_label("Connection name").fill("far away")
    dialog.get_by_role("button", name="Connect").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("svg.rc-lines .rc-line")).to_have_count(count + 1)
    expect(pools.nth(19)).to_contain_text("far away")
    expect(pools.nth(19)).to_be_in_viewport()  # the new board kept its scroll
    assert board.evaluate("(b) => b.scrollLeft") > 1000
    assert_lines_attached(page, "after connecting")

    # The keyboard way still works: a Connect link far to the right scrolls into view when it
    # gets the focus, opens the dialog with Enter, and the dialog connects.
    scroll_box(page, 0)
    last = profiles.nth(29)
    connect_link = last.get_by_role("link", name=f"Connect {profile_name(29)} to a pool")
    connect_link.focus()
    expect(connect_link).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("heading", name="Connect Profile")).to_be_visible()
    expect(dialog.get_by_label("Profile")).to_have_value(last.get_attribute("data-profile"))
    dialog.get_by_label("Pool").select_option(label=pool_name(5))
    dialog.get_by_label("Connection name").fill("by keyboard")
    dialog.get_by_label("Connection name").press("Enter")
    expect(dialog).to_be_hidden()
    expect(last).to_contain_text("by keyboard")
    # ... and reordering by keyboard: Alt+ArrowDown on the first of the first pool's list.
    first_pool_items = pools.first.locator("ol[data-scope=pool] > li")
    top_item = first_pool_items.first.locator(".rc-item-name").inner_text()
    first_pool_items.first.get_by_role("button", name=f"Move {top_item} down").focus()
    page.keyboard.press("Alt+ArrowDown")
    expect(first_pool_items.nth(1).locator(".rc-item-name")).to_have_text(top_item)
    assert_lines_attached(page, "after reordering")

    # At 390 px: the page does not overflow, the board scrolls inside, the lines follow.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_lines_attached(page, "at 390 px")
    board.evaluate("(b) => b.scrollIntoView({block: 'start'})")
    assert board.bounding_box()["height"] <= 844
    scroll_box(page, 1200)
    assert_lines_attached(page, "at 390 px, scrolled")
    assert page.evaluate(NAME_BREAKS) == []
    pools.nth(7).scroll_into_view_if_needed()
    shot(page, "board-scale-390")
    page.get_by_role("button", name="Fit").click()
    page.wait_for_timeout(100)
    assert_lines_attached(page, "at 390 px, fitted")
    board.evaluate("(b) => b.scrollIntoView({block: 'start'})")
    shot(page, "board-scale-390-fit")
    assert errors == []
