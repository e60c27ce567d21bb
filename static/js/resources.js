// Resource Configuration: drag and drop on top of forms that work without it.
// - Reorder lists (execution priority, pool precedence, policy priority): drag an item; the
//   list's hidden order form is submitted with the new order. The ▲▼ buttons do the same
//   from the keyboard.
// - Connect: drag a profile's "Connect" handle onto a pool card to open the Connect Profile
//   dialog for that pair. The handle is also a link to the same dialog (the keyboard way).
// - The board at scale: it scrolls inside its own box and zooms (Fit shows every card); while
//   something is dragged near the box's edge (or the window's), it scrolls by itself, so a
//   profile connects to a pool that was off screen. The lines between the rows are drawn again
//   from the cards' boxes whenever those can have moved (resize, zoom, scroll, a new board).
(function () {
  "use strict";
  const PROFILE_TYPE = "application/x-rc-profile";
  const ZOOMS = [0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25];
  const MIN_ZOOM = 0.1;
  const EDGE = 60; // px from an edge where a drag scrolls
  const WINDOW_EDGE = 40; // the same for the window's top and bottom
  const MAX_STEP = 24; // px per frame deep in the zone (up to 4 times that after resting there)
  const SPREAD = 14; // px between the ends of lines that meet one card
  const ZOOM_KEY = "rc-board-zoom";
  const scrollKey = () => "rc-board-scroll " + window.location.pathname;
  let dragged = null; // the <li> being reordered
  let draggedProfile = null; // the profile key being connected
  let zoom = readZoom();
  let kept = null; // the board's scroll position across an htmx swap or a page load
  let observer = null;
  let drawFrame = 0;

  // --- the board's view: zoom, scroll, lines -------------------------------------------------

  const board = () => document.getElementById("rc-board");
  const box = () => document.querySelector("#rc-board .rc-scroll");

  function readZoom() {
    const value = parseFloat(window.localStorage && window.localStorage.getItem(ZOOM_KEY));
    return value >= MIN_ZOOM && value <= ZOOMS[ZOOMS.length - 1] ? value : 1;
  }

  function setZoom(value) {
    const scroll = box();
    if (!scroll) return;
    const old = zoom;
    zoom = Math.min(ZOOMS[ZOOMS.length - 1], Math.max(MIN_ZOOM, Math.round(value * 100) / 100));
    // Keep the middle of what is on screen in the middle.
    const middleX = (scroll.scrollLeft + scroll.clientWidth / 2) / old;
    const middleY = (scroll.scrollTop + scroll.clientHeight / 2) / old;
    applyZoom();
    scroll.scrollLeft = middleX * zoom - scroll.clientWidth / 2;
    scroll.scrollTop = middleY * zoom - scroll.clientHeight / 2;
    try { window.localStorage.setItem(ZOOM_KEY, String(zoom)); } catch (e) { /* private mode */ }
    redraw();
  }

  function applyZoom() {
    const root = board();
    if (!root) return;
    const canvas = root.querySelector(".rc-canvas");
    canvas.style.zoom = zoom === 1 ? "" : String(zoom); // the CSSOM, which the CSP allows
    const level = root.querySelector(".rc-zoom-level");
    if (level) level.textContent = Math.round(zoom * 100) + "%";
  }

  // The zoom at which the whole board fits in its box (whose height is capped by the CSS).
  function fitZoom() {
    const scroll = box();
    if (!scroll) return 1;
    const rect = scroll.querySelector(".rc-canvas").getBoundingClientRect(); // at the current zoom
    const tallest = parseFloat(window.getComputedStyle(scroll).maxHeight) || window.innerHeight;
    return Math.min(1, (zoom * scroll.clientWidth) / rect.width, (zoom * tallest) / rect.height);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("[data-rc-zoom]");
    if (!button) return;
    const action = button.dataset.rcZoom;
    if (action === "in") setZoom(ZOOMS.find((z) => z > zoom + 0.001) || zoom);
    else if (action === "out") setZoom([...ZOOMS].reverse().find((z) => z < zoom - 0.001) || Math.max(MIN_ZOOM, zoom / 1.25));
    else if (action === "fit") setZoom(fitZoom());
    else setZoom(1);
  });

  // The line of a link goes from the bottom of its pool card to the top of its profile card; the
  // ends of several lines on one card are spread in the order of the card's list.
  function drawLines() {
    drawFrame = 0;
    const root = board();
    const svg = root && root.querySelector("svg.rc-lines");
    if (!svg) return;
    const height = svg.height.baseVal.value;
    const at = svg.getBoundingClientRect();
    const scale = at.height / height || 1; // screen px per SVG unit: the zoom
    const rows = root.querySelectorAll(".rc-row");
    const width = Math.max(...Array.from(rows, (row) => row.getBoundingClientRect().width)) / scale;
    svg.setAttribute("width", String(Math.round(width)));
    svg.setAttribute("viewBox", `0 0 ${Math.round(width)} ${height}`);
    svg.querySelectorAll(".rc-line").forEach((line) => {
      const key = line.dataset.link;
      const end = (scope) => {
        const item = root.querySelector(`ol[data-scope=${scope}] > li[data-item="${CSS.escape(key)}"]`);
        if (!item) return null;
        const siblings = Array.from(item.parentElement.children);
        const card = item.closest(".rc-card").getBoundingClientRect();
        const x = (card.left + card.width / 2 - at.left) / scale + (siblings.indexOf(item) - (siblings.length - 1) / 2) * SPREAD;
        return { x: Math.round(x * 10) / 10, y: Math.round(((scope === "pool" ? card.bottom : card.top) - at.top) / scale * 10) / 10 };
      };
      const top = end("pool");
      const bottom = end("profile");
      if (!top || !bottom) return;
      const middle = (top.y + bottom.y) / 2;
      line.querySelector("path").setAttribute("d", `M${top.x} ${top.y} C${top.x} ${middle} ${bottom.x} ${middle} ${bottom.x} ${bottom.y}`);
      const [a, b] = line.querySelectorAll("circle");
      a.setAttribute("cx", top.x); a.setAttribute("cy", top.y);
      b.setAttribute("cx", bottom.x); b.setAttribute("cy", bottom.y);
    });
  }

  // The zoom buttons are there when they are of use: the board is wider or taller than its box.
  function showView() {
    const root = board();
    const view = root && root.querySelector("[data-rc-view]");
    const scroll = box();
    if (!view || !scroll) return;
    view.hidden = zoom === 1 && scroll.scrollWidth <= scroll.clientWidth + 1 && scroll.scrollHeight <= scroll.clientHeight + 1;
  }

  function redraw() {
    drawLines();
    showView();
  }

  function scheduleDraw() {
    if (!drawFrame) drawFrame = window.requestAnimationFrame(redraw);
  }

  function setUp() {
    const root = board();
    if (!root) return;
    applyZoom();
    const scroll = box();
    if (kept === null) {
      try { kept = JSON.parse(window.sessionStorage.getItem(scrollKey()) || "null"); } catch (e) { kept = null; }
    }
    if (kept && scroll) {
      scroll.scrollLeft = kept.left;
      scroll.scrollTop = kept.top;
    } else if (scroll && scroll.scrollHeight > scroll.clientHeight) {
      // Taller than its box: show the lines, with the ends of the pools above and the profiles below.
      const lines = root.querySelector("svg.rc-lines").getBoundingClientRect();
      const at = scroll.getBoundingClientRect();
      scroll.scrollTop += lines.top + lines.height / 2 - (at.top + at.height / 2);
    }
    kept = null;
    if (scroll) scroll.addEventListener("scroll", scheduleDraw, { passive: true });
    if (observer) observer.disconnect();
    if (window.ResizeObserver) {
      observer = new ResizeObserver(scheduleDraw);
      root.querySelectorAll(".rc-row, .rc-card").forEach((el) => observer.observe(el));
      if (scroll) observer.observe(scroll);
    }
    redraw();
  }

  function keepScroll() {
    const scroll = box();
    return scroll ? { left: scroll.scrollLeft, top: scroll.scrollTop } : null;
  }

  window.addEventListener("resize", scheduleDraw);
  // An edit swaps the whole board: keep where it was scrolled to, and redraw.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "rc-board") kept = keepScroll();
  });
  document.addEventListener("htmx:load", (event) => {
    if (event.detail.elt && event.detail.elt.id === "rc-board") setUp();
  });
  // Save and Provision are plain posts (a new page): come back to the same place.
  window.addEventListener("pagehide", () => {
    const where = keepScroll();
    try { if (where) window.sessionStorage.setItem(scrollKey(), JSON.stringify(where)); } catch (e) { /* private mode */ }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();

  // Highlight a card's lines while it is hovered or has the focus.
  let litCard = null;
  function light(card) {
    litCard = card;
    const svg = document.querySelector("#rc-board svg.rc-lines");
    if (!svg) return;
    svg.querySelectorAll(".rc-line.is-lit").forEach((line) => line.classList.remove("is-lit"));
    const items = card ? card.querySelectorAll("ol[data-scope=pool] > li, ol[data-scope=profile] > li") : [];
    items.forEach((li) => {
      const line = svg.querySelector(`.rc-line[data-link="${CSS.escape(li.dataset.item)}"]`);
      if (line) line.classList.add("is-lit");
    });
    svg.classList.toggle("has-lit", items.length > 0);
  }
  ["mouseover", "focusin"].forEach((type) => document.addEventListener(type, (event) => {
    const card = (event.target.closest && event.target.closest("#rc-board .rc-card")) || null;
    if (card !== litCard) light(card);
  }));

  // --- scrolling while dragging -------------------------------------------------------------

  let pointer = null; // where the drag is, from the last dragover
  let scrollFrame = 0;
  let edgeSince = 0; // when the pointer came to rest in an edge zone: the longer, the faster

  // How far to scroll this frame along one axis: deeper in the zone is faster; 0 outside it.
  function edgeStep(at, low, high) {
    if (at < low - EDGE || at > high + EDGE) return 0; // far outside: not meant
    const depth = at < low + EDGE ? (at - low - EDGE) / EDGE : at > high - EDGE ? (at - high + EDGE) / EDGE : 0;
    if (!depth) return 0;
    const speed = Math.max(3, MAX_STEP * Math.min(1, Math.abs(depth)));
    return Math.sign(depth) * Math.round(speed * Math.min(4, 1 + (performance.now() - edgeSince) / 1000));
  }

  // Runs every frame while a drag is on: the pointer may rest at the edge without new events.
  function autoScroll() {
    scrollFrame = 0;
    if (!dragged && !draggedProfile) return;
    let moving = false;
    if (pointer) {
      const scroll = box();
      if (scroll) {
        const r = scroll.getBoundingClientRect();
        const dx = pointer.y >= r.top && pointer.y <= r.bottom ? edgeStep(pointer.x, r.left, r.right) : 0;
        const dy = pointer.x >= r.left && pointer.x <= r.right ? edgeStep(pointer.y, r.top, r.bottom) : 0;
        scroll.scrollLeft += dx;
        scroll.scrollTop += dy;
        moving = Boolean(dx || dy);
      }
      // The page, within WINDOW_EDGE of the window's top or bottom.
      const dy = edgeStep(pointer.y, WINDOW_EDGE - EDGE, window.innerHeight - WINDOW_EDGE + EDGE);
      if (dy) {
        window.scrollBy(0, dy);
        moving = true;
      }
    }
    if (!moving) edgeSince = performance.now();
    scrollFrame = window.requestAnimationFrame(autoScroll);
  }

  function dragStarted() {
    pointer = null;
    if (!scrollFrame) scrollFrame = window.requestAnimationFrame(autoScroll);
  }

  function dragStopped() {
    pointer = null;
    if (scrollFrame) window.cancelAnimationFrame(scrollFrame);
    scrollFrame = 0;
  }

  // --- drag and drop --------------------------------------------------------------------------

  function submitOrder(list) {
    const form = list.nextElementSibling;
    if (!form || !form.classList.contains("rc-order-form")) return;
    form.querySelectorAll("input[name=order]").forEach((input) => input.remove());
    list.querySelectorAll(":scope > li[data-item]").forEach((li) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "order";
      input.value = li.dataset.item;
      form.appendChild(input);
    });
    form.requestSubmit();
  }

  document.addEventListener("dragstart", (event) => {
    const handle = event.target.closest && event.target.closest(".rc-link-handle");
    if (handle) {
      draggedProfile = handle.dataset.profile;
      event.dataTransfer.effectAllowed = "link";
      event.dataTransfer.setData(PROFILE_TYPE, draggedProfile);
      event.dataTransfer.setData("text/plain", draggedProfile);
      dragStarted();
      return;
    }
    const li = event.target.closest && event.target.closest(".is-editing .rc-order > li[draggable=true]");
    if (li) {
      dragged = li;
      dragged.dataset.before = Array.from(li.parentElement.children).map((x) => x.dataset.item).join(",");
      li.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", li.dataset.item);
      dragStarted();
    }
  });

  document.addEventListener("dragover", (event) => {
    if (draggedProfile || dragged) pointer = { x: event.clientX, y: event.clientY };
    if (draggedProfile) {
      const pool = event.target.closest && event.target.closest(".rc-pool");
      document.querySelectorAll(".rc-pool.is-drop-target").forEach((el) => el !== pool && el.classList.remove("is-drop-target"));
      if (pool) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "link";
        pool.classList.add("is-drop-target");
      }
      return;
    }
    if (!dragged) return;
    const over = event.target.closest && event.target.closest("li[data-item]");
    if (!over || over === dragged || over.parentElement !== dragged.parentElement) {
      if (event.target.closest && event.target.closest(".rc-order") === dragged.parentElement) event.preventDefault();
      return;
    }
    event.preventDefault();
    const rect = over.getBoundingClientRect();
    const after = event.clientY > rect.top + rect.height / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("drop", (event) => {
    dragStopped();
    if (draggedProfile) {
      const pool = event.target.closest && event.target.closest(".rc-pool");
      if (pool) {
        event.preventDefault();
        const url = board().dataset.connectUrl + "?profile=" + encodeURIComponent(draggedProfile) + "&pool=" + encodeURIComponent(pool.dataset.pool);
        if (window.htmx) {
          window.htmx.ajax("GET", url, { target: "#modal-content", swap: "innerHTML" });
        } else {
          window.location.href = url;
        }
      }
      return;
    }
    if (dragged) event.preventDefault();
  });

  document.addEventListener("dragend", () => {
    dragStopped();
    document.querySelectorAll(".rc-pool.is-drop-target").forEach((el) => el.classList.remove("is-drop-target"));
    draggedProfile = null;
    if (!dragged) return;
    const li = dragged;
    dragged = null;
    li.classList.remove("is-dragging");
    const list = li.parentElement;
    const now = Array.from(list.children).map((x) => x.dataset.item).join(",");
    if (now !== li.dataset.before) submitOrder(list);
  });

  // Keyboard: with focus on a list item's ▲/▼ button, Alt+ArrowUp/ArrowDown moves it too.
  document.addEventListener("keydown", (event) => {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    const li = event.target.closest && event.target.closest(".is-editing .rc-order > li");
    if (!li) return;
    const button = li.querySelector(`.rc-move button[value=${event.key === "ArrowUp" ? "up" : "down"}]`);
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
})();
