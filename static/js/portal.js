// Small behaviours on top of htmx. Every page works without this file.
(function () {
  "use strict";
  const modal = () => document.getElementById("modal");

  function closeModal() {
    const dialog = modal();
    if (dialog && dialog.open) dialog.close();
  }

  // What a person can see and reach: not type=hidden, not [hidden] or display:none (itself or
  // an ancestor), not disabled, and not a button kept only so Enter submits (visually-hidden,
  // aria-hidden or tabindex=-1, like the rule form's hidden default Save).
  function reachable(el) {
    if (el.disabled || el.type === "hidden" || el.closest("[hidden], [aria-hidden=true], .visually-hidden")) return false;
    if (el.getAttribute("tabindex") === "-1") return false;
    if (!el.getClientRects().length) return false; // display:none here or above
    const style = getComputedStyle(el);
    return style.visibility !== "hidden";
  }

  // The dialog's first visible, enabled field (a radio group: its checked one); else its first
  // visible submit button (a confirmation).
  function firstControl(root) {
    for (const el of root.querySelectorAll("input, select, textarea")) {
      if (!reachable(el)) continue;
      if (el.type === "radio" && !el.checked && el.form &&
          [...el.form.querySelectorAll("input[type=radio]")].some((r) => r.name === el.name && r.checked)) continue;
      return el;
    }
    for (const el of root.querySelectorAll("button[type=submit], button:not([type])")) {
      if (reachable(el)) return el;
    }
    return null;
  }

  // A fragment swapped into the dialog opens it and focuses its first field.
  document.addEventListener("htmx:afterSwap", (event) => {
    const dialog = modal();
    if (!dialog) return;
    if (event.detail.target.id === "modal-content") {
      if (!dialog.open) dialog.showModal();
      const first = firstControl(dialog);
      if (first) first.focus();
    } else if (dialog.open && !dialog.contains(event.detail.target) &&
               dialog.contains(event.detail.requestConfig && event.detail.requestConfig.elt)) {
      // A form inside the dialog succeeded and updated the page (not a part of the dialog
      // itself, such as a list filtered as one types): close the dialog.
      closeModal();
    }
  });
  document.body && document.body.addEventListener("closeModal", closeModal);
  document.addEventListener("closeModal", closeModal);

  document.addEventListener("click", (event) => {
    const closer = event.target.closest("[data-close-modal]");
    if (closer && modal() && modal().open) {
      event.preventDefault();
      closeModal();
      return;
    }
    const copy = event.target.closest("[data-copy], [data-copy-from]");
    if (copy) {
      const source = copy.dataset.copyFrom ? document.querySelector(copy.dataset.copyFrom) : null;
      const text = source ? source.textContent : copy.dataset.copy;
      const done = () => { const old = copy.textContent; copy.textContent = "Copied"; setTimeout(() => (copy.textContent = old), 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
      } else {
        const area = document.createElement("textarea");
        area.value = text; document.body.appendChild(area); area.select();
        document.execCommand("copy"); area.remove(); done();
      }
      return;
    }
    const dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      const target = document.querySelector(dismiss.dataset.dismiss);
      if (target) target.remove();
    }
  });

  // Escape in an inline edit cancels it (back to the read-only value).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const input = event.target.closest("[data-escape-cancel]");
    if (input && window.htmx) {
      event.preventDefault();
      const container = input.closest("[hx-target]") || input.closest("form").parentElement;
      window.htmx.ajax("GET", input.dataset.escapeCancel, { target: container, swap: "outerHTML" });
    }
  });

  // Return focus to the pencil after an inline edit is saved or cancelled.
  document.addEventListener("htmx:afterSettle", (event) => {
    const el = event.detail.elt;
    if (el && el.classList && el.classList.contains("inline-edit")) {
      const focusable = el.querySelector("input, .edit-pencil");
      if (focusable) focusable.focus();
    }
  });
})();
