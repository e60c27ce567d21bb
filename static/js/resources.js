// Resource Configuration: drag and drop on top of forms that work without it.
// - Reorder lists (execution priority, pool precedence, policy priority): drag an item; the
//   list's hidden order form is submitted with the new order. The ▲▼ buttons do the same
//   from the keyboard.
// - Connect: drag a profile's "Connect" handle onto a pool card to open the Connect Profile
//   dialog for that pair. The handle is also a link to the same dialog.
(function () {
  "use strict";
  const PROFILE_TYPE = "application/x-rc-profile";
  let dragged = null; // the <li> being reordered
  let draggedProfile = null; // the profile key being connected

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
      return;
    }
    const li = event.target.closest && event.target.closest(".is-editing .rc-order > li[draggable=true]");
    if (li) {
      dragged = li;
      dragged.dataset.before = Array.from(li.parentElement.children).map((x) => x.dataset.item).join(",");
      li.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", li.dataset.item);
    }
  });

  document.addEventListener("dragover", (event) => {
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
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("drop", (event) => {
    if (draggedProfile) {
      const pool = event.target.closest && event.target.closest(".rc-pool");
      if (pool) {
        event.preventDefault();
        const board = document.getElementById("rc-board");
        const url = board.dataset.connectUrl + "?profile=" + encodeURIComponent(draggedProfile) + "&pool=" + encodeURIComponent(pool.dataset.pool);
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
