// Workspace page behaviours. Everything works without this file: the two credential
// formats are then shown one above the other.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // WAI-ARIA tabs: arrow keys / Home / End move between tabs, Tab goes into the panel.
  function enhanceTabs(root) {
    root.querySelectorAll("[data-tabs]:not([data-tabs-ready])").forEach((container) => {
      const tablist = container.querySelector("[role=tablist]");
      const tabs = Array.from(container.querySelectorAll("[role=tab]"));
      if (!tablist || !tabs.length) return;
      container.dataset.tabsReady = "true";
      tablist.hidden = false;
      container.classList.add("tabs-enhanced");
      tabs.forEach((tab) => {
        const panel = document.getElementById(tab.getAttribute("aria-controls"));
        if (panel) {
          panel.setAttribute("role", "tabpanel");
          panel.tabIndex = 0;
        }
      });

      function select(tab, focus) {
        tabs.forEach((other) => {
          const selected = other === tab;
          other.setAttribute("aria-selected", String(selected));
          other.tabIndex = selected ? 0 : -1;
          const panel = document.getElementById(other.getAttribute("aria-controls"));
          if (panel) panel.hidden = !selected;
        });
        if (focus) tab.focus();
      }

      tablist.addEventListener("click", (event) => {
        const tab = event.target.closest("[role=tab]");
        if (tab) select(tab, false);
      });
      tablist.addEventListener("keydown", (event) => {
        const index = tabs.indexOf(document.activeElement);
        if (index < 0) return;
        let next = null;
        if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
        else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
        else if (event.key === "Home") next = tabs[0];
        else if (event.key === "End") next = tabs[tabs.length - 1];
        if (next) {
          event.preventDefault();
          select(next, true);
        }
      });
      select(tabs.find((tab) => tab.getAttribute("aria-selected") === "true") || tabs[0], false);
    });
  }

  document.addEventListener("htmx:load", (event) => enhanceTabs(event.detail.elt.parentElement || document));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enhanceTabs(document));
  } else {
    enhanceTabs(document);
  }
})();
