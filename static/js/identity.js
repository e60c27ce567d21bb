// Identity Providers: the connection form's live previews, and the SAML HTTP-POST hand-off.
// Everything here also happens on the server (the form fills preset values in when saved).
(function () {
  "use strict";
  const TOKEN = /\{([a-z0-9-]+)\}/g;

  function paramValues(form) {
    const values = {};
    form.querySelectorAll("[data-preset-param]").forEach((input) => {
      values[input.dataset.presetParam] = input.value.trim().replace(/\/+$/, "");
    });
    return values;
  }

  // A preset's fields hold {tokens} (a tenant, a domain): fill them in as the admin types the
  // values at the top, unless the admin changed the field by hand since.
  function fillPreset(form) {
    const values = paramValues(form);
    form.querySelectorAll("input:not([type=hidden]):not([type=checkbox]):not([type=file]), textarea").forEach((el) => {
      if (el.matches("[data-preset-param]")) return;
      if (el.dataset.template === undefined) {
        if (!/\{[a-z0-9-]+\}/.test(el.value)) return;
        el.dataset.template = el.value;
        el.dataset.filled = el.value;
      }
      if (el.value !== el.dataset.filled) return;
      const value = el.dataset.template.replace(TOKEN, (token, name) => values[name] || token);
      el.value = value;
      el.dataset.filled = value;
    });
  }

  // The callback/ACS/metadata URLs shown for copying follow the WebApp URL field.
  function showAddresses(form, input) {
    let base;
    try {
      base = new URL(input.value.trim()).origin;
    } catch (error) {
      return;
    }
    form.querySelectorAll("[data-path]").forEach((el) => {
      el.textContent = base + el.dataset.path;
    });
  }

  document.addEventListener("input", (event) => {
    const form = event.target.closest("form.identity-form");
    if (!form) return;
    if (event.target.matches("[data-preset-param]")) fillPreset(form);
    if (event.target.name === "webapp_url") showAddresses(form, event.target);
  });

  // SAML HTTP-POST binding: the sign-in request goes to the identity provider in a form.
  document.querySelectorAll("form[data-autosubmit]").forEach((form) => form.submit());
})();
