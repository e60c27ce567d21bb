// The settings navigation on a small screen (docs/ui.md "Small screens"): the top bar's Menu
// link becomes a toggle button that shows and hides the navigation in place. Without this file the
// link jumps to the navigation, which CSS shows as the :target. On a wide screen the toggle is
// hidden by CSS and the navigation is always shown, whatever its state here.
(function () {
  "use strict";
  const toggle = document.querySelector("[data-nav-toggle]");
  const nav = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (!nav) return;

  toggle.setAttribute("role", "button");
  toggle.setAttribute("aria-expanded", "false");

  function setOpen(open, focusToggle) {
    nav.classList.toggle("is-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    // Opened without JavaScript (#settings-nav in the address): the state is ours from now on.
    if (window.location.hash === "#" + nav.id) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (focusToggle) toggle.focus();
  }

  if (window.location.hash === "#" + nav.id) setOpen(true, false);

  toggle.addEventListener("click", (event) => {
    event.preventDefault();
    setOpen(toggle.getAttribute("aria-expanded") !== "true", false);
  });
  // A link with role=button answers Space as well as Enter.
  toggle.addEventListener("keydown", (event) => {
    if (event.key === " ") {
      event.preventDefault();
      setOpen(toggle.getAttribute("aria-expanded") !== "true", false);
    }
  });
  // Escape inside the open navigation (or on its toggle) closes it and returns to the toggle.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
    if (nav.contains(event.target) || event.target === toggle) {
      setOpen(false, true);
    }
  });
})();
