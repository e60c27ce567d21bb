// Vault behaviours: the code editor (line numbers + highlighting over a plain textarea),
// double-click to edit the vault box, importing a file into the editor. Every page
// works without this file: the textarea and the file input are then used as they are.
(function () {
  "use strict";
  if (window.portalVaults) return; // included by several templates: run once
  window.portalVaults = true;
  document.documentElement.classList.add("js");

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
  const escape = (text) => text.replace(/[&<>"]/g, (ch) => ESCAPES[ch]);

  // One pass over the text: comments, strings, substitutions, literals, numbers, keys, punctuation.
  const TOKENS = new RegExp(
    [
      "(#[^\\n]*|\\/\\/[^\\n]*)", // 1 comment (// is not a comment in YAML: see below)
      '("""[\\s\\S]*?(?:"""|$)|"(?:[^"\\\\\\n]|\\\\.)*"?|\'(?:[^\'\\\\\\n]|\\\\.)*\'?)', // 2 string
      "(\\$\\{\\??[^}\\n]*\\}?)", // 3 substitution
      "((?<![\\w.\\-])(?:true|false|null|yes|no|on|off)(?![\\w.\\-]))", // 4 literal
      "((?<![\\w.\\-])-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?(?![\\w.\\-]))", // 5 number (not inside a word: eu-west-1)
      "([A-Za-z_][\\w.\\-]*)(?=[ \\t]*(?:[:=]|\\{|\\+=))", // 6 key
      "([{}\\[\\],:=])", // 7 punctuation
    ].join("|"),
    "g"
  );

  function highlight(text, format) {
    let out = "";
    let last = 0;
    TOKENS.lastIndex = 0;
    let match;
    while ((match = TOKENS.exec(text)) !== null) {
      if (match[0] === "") { TOKENS.lastIndex++; continue; }
      out += escape(text.slice(last, match.index));
      let cls = null;
      if (match[1]) {
        if (format === "yaml" && match[1].startsWith("//")) {
          out += escape(match[1].slice(0, 2));
          last = match.index + 2;
          TOKENS.lastIndex = last;
          continue;
        }
        cls = format === "json" ? null : "comment";
      } else if (match[2]) {
        const after = text.slice(TOKENS.lastIndex).match(/^[ \t]*(:|=|\{)/);
        cls = after ? "key" : "string";
      } else if (match[3]) cls = "subst";
      else if (match[4]) cls = "literal";
      else if (match[5]) cls = "number";
      else if (match[6]) cls = "key";
      else if (match[7]) cls = "punct";
      out += cls ? `<span class="tok-${cls}">${escape(match[0])}</span>` : escape(match[0]);
      last = TOKENS.lastIndex;
    }
    return out + escape(text.slice(last)) + "\n";
  }

  function errorLine(form) {
    // Parse errors read "Line N, column C: ...".
    const errors = form ? form.querySelectorAll(".form-errors, .error") : [];
    for (const el of errors) {
      const found = el.textContent.match(/Line (\d+), column (\d+)/);
      if (found) return { line: Number(found[1]), column: Number(found[2]) };
    }
    return null;
  }

  function enhance(textarea) {
    if (textarea.dataset.codeEditorReady) return;
    textarea.dataset.codeEditorReady = "true";
    const form = textarea.form;
    const formatSelect = form ? form.querySelector("select[name=format]") : null;
    textarea.setAttribute("wrap", "off");

    const editor = document.createElement("div");
    editor.className = "code-editor";
    const gutter = document.createElement("pre");
    gutter.className = "code-gutter";
    gutter.setAttribute("aria-hidden", "true");
    const area = document.createElement("div");
    area.className = "code-area";
    const pre = document.createElement("pre");
    pre.className = "code-highlight";
    pre.setAttribute("aria-hidden", "true");
    const code = document.createElement("code");
    pre.appendChild(code);
    textarea.parentNode.insertBefore(editor, textarea);
    area.appendChild(pre);
    area.appendChild(textarea);
    editor.appendChild(gutter);
    editor.appendChild(area);

    const failure = errorLine(form);
    let lines = -1;
    function render() {
      const format = formatSelect ? formatSelect.value : "hocon";
      code.innerHTML = highlight(textarea.value, format);
      const count = textarea.value.split("\n").length;
      if (count !== lines) {
        lines = count;
        let numbers = "";
        for (let i = 1; i <= count; i++) {
          numbers += failure && failure.line === i ? `<span class="is-error" title="Error here">${i}</span>\n` : `${i}\n`;
        }
        gutter.innerHTML = numbers;
      }
      sync();
    }
    function sync() {
      pre.scrollTop = textarea.scrollTop;
      pre.scrollLeft = textarea.scrollLeft;
      gutter.scrollTop = textarea.scrollTop;
    }
    textarea.addEventListener("input", render);
    textarea.addEventListener("scroll", sync);
    if (formatSelect) formatSelect.addEventListener("change", render);
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Tab" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
        // Two spaces; Escape then Tab leaves the editor (keyboard users are never trapped).
        if (textarea.dataset.tabEscapes === "true") { textarea.dataset.tabEscapes = ""; return; }
        event.preventDefault();
        const { selectionStart: start, selectionEnd: end } = textarea;
        textarea.setRangeText("  ", start, end, "end");
        render();
      } else if (event.key === "Escape") {
        textarea.dataset.tabEscapes = "true";
      } else {
        textarea.dataset.tabEscapes = "";
      }
    });
    render();
    if (failure) {
      // Put the caret where the parser stopped.
      const rows = textarea.value.split("\n");
      let offset = 0;
      for (let i = 0; i < Math.min(failure.line - 1, rows.length); i++) offset += rows[i].length + 1;
      offset += Math.max(failure.column - 1, 0);
      textarea.focus();
      textarea.setSelectionRange(offset, offset);
      const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
      textarea.scrollTop = Math.max((failure.line - 3) * lineHeight, 0);
      sync();
    }
  }

  const EXTENSIONS = { conf: "hocon", hocon: "hocon", json: "json", yaml: "yaml", yml: "yaml" };

  function enhanceImport(input) {
    if (input.dataset.importReady) return;
    input.dataset.importReady = "true";
    const form = input.form;
    const textarea = form && form.querySelector("textarea[name=content]");
    if (!textarea || !window.FileReader) return;
    const note = document.createElement("span");
    note.className = "vault-import-note";
    note.setAttribute("role", "status");
    const bar = form.querySelector(".vault-editor-bar");
    if (bar) bar.appendChild(note);
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (!file) return;
      const limit = Number(form.dataset.maxBytes || 0);
      note.classList.remove("is-error");
      if (limit && file.size > limit) {
        note.textContent = `${file.name} is larger than ${Math.round(limit / 1024)} KiB, the limit.`;
        note.classList.add("is-error");
        input.value = "";
        return;
      }
      const reader = new FileReader();
      reader.onload = () => {
        textarea.value = String(reader.result).replace(/^\uFEFF/, "");
        const ext = (file.name.split(".").pop() || "").toLowerCase();
        const select = form.querySelector("select[name=format]");
        if (select && EXTENSIONS[ext]) select.value = EXTENSIONS[ext];
        // The text is in the editor now: send it, not the file, so edits made after the import count.
        input.value = "";
        note.textContent = `Imported ${file.name}: check it, then save.`;
        textarea.dispatchEvent(new Event("input"));
        if (select) select.dispatchEvent(new Event("change"));
        textarea.focus();
      };
      reader.onerror = () => {
        note.textContent = `Could not read ${file.name}.`;
        note.classList.add("is-error");
      };
      reader.readAsText(file);
    });
  }

  function init(root) {
    root.querySelectorAll("code[data-highlight]:not([data-highlighted])").forEach((code) => {
      code.dataset.highlighted = "true";
      code.innerHTML = highlight(code.textContent, code.dataset.highlight).replace(/\n$/, "");
    });
    root.querySelectorAll("textarea[data-code-editor]").forEach(enhance);
    root.querySelectorAll(".vault-form input[type=file][name=upload]").forEach(enhanceImport);
  }

  // Double-click (or Enter on) the vault box opens the editor.
  function openEditor(box) {
    const section = box.closest(".vault-section");
    const edit = section && section.querySelector("[data-vault-edit]");
    if (edit) edit.click();
  }
  document.addEventListener("dblclick", (event) => {
    const box = event.target.closest("[data-vault-box]");
    if (box) {
      event.preventDefault();
      openEditor(box);
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    const box = event.target.closest && event.target.closest("[data-vault-box]");
    if (box && event.target === box) {
      event.preventDefault();
      openEditor(box);
    }
  });

  document.addEventListener("htmx:load", (event) => init(event.detail.elt));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => init(document));
  } else {
    init(document);
  }
})();
