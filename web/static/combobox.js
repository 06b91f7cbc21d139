// The company field's autocomplete: the ARIA 1.2 combobox pattern (an input with a list
// of suggestions it controls), filled from a JSON endpoint as the user types, because a
// select listing every company is unusable with tens of thousands of them.
//
// Markup (web/templates/_contact_form.html, contacts.html):
//   <div data-combobox data-source="/contacts/companies" [data-create="Create “{name}”"]>
//     <input role="combobox" aria-controls="LIST" ...>   the name, as typed or picked
//     <input type="hidden" data-combobox-id>               the picked company's id
//     [<input type="hidden" data-combobox-create>]          "1": create the typed name
//     <ul id="LIST" role="listbox" hidden></ul>
//     <p role="status" data-combobox-status></p>           counts, read by screen readers
//   </div>
// Keys: Down/Up move through the suggestions (Down opens them), Enter picks, Escape closes
// (a second Escape clears), Tab leaves. Without script the typed name is sent and the
// server finds the company by it. A page script under soft navigation (soft-nav-page.js):
// set up for each page that shows the field, its timer and request dropped when left.

import { h } from "./dom.js";
import { definePage } from "./soft-nav-page.js";

const DELAY_MS = 150;

function fold(text) {
  return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
}

function setUp(box) {
  const input = box.querySelector("[role=combobox]");
  const list = box.querySelector("[role=listbox]");
  const idField = box.querySelector("[data-combobox-id]");
  const createField = box.querySelector("[data-combobox-create]");
  const status = box.querySelector("[data-combobox-status]");
  const createLabel = box.dataset.create || "";
  let options = [];
  let active = -1;
  let timer = 0;
  let pending = null;
  let picked = input.value;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    options.forEach((option, i) => {
      option.el.classList.toggle("active", i === index);
      option.el.setAttribute("aria-selected", String(i === index));
    });
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].el.id);
      options[index].el.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function pick(option) {
    input.value = option.create ? input.value.trim() : option.name;
    picked = input.value;
    idField.value = option.create ? "" : String(option.id);
    if (createField) createField.value = option.create ? "1" : "";
    status.textContent = option.el.textContent;
    close();
  }

  function show(found, more, typed) {
    list.replaceChildren();
    options = found.map((company, i) => ({ id: company.id, name: company.name, create: false,
      el: h("li", { role: "option", id: `${list.id}-${i}`, "aria-selected": "false" },
        company.name) }));
    const exact = found.some((company) => fold(company.name) === fold(typed));
    if (createLabel && typed.trim() && !exact) {
      options.push({ id: null, name: typed.trim(), create: true,
        el: h("li", { role: "option", id: `${list.id}-new`, class: "create",
          "aria-selected": "false" }, fill(createLabel, { name: typed.trim() })) });
    }
    for (const option of options) {
      // mousedown, not click: the input keeps the focus (and the list stays open).
      option.el.addEventListener("mousedown", (event) => {
        event.preventDefault();
        pick(option);
      });
      list.append(option.el);
    }
    const template = found.length ? box.dataset.found : box.dataset.none;
    status.textContent = fill(template || "", {
      count: found.length + (more ? "+" : ""), name: typed.trim() });
    list.hidden = options.length === 0;
    input.setAttribute("aria-expanded", String(options.length > 0));
    highlight(-1);
  }

  async function lookUp() {
    const typed = input.value;
    if (pending) pending.abort();
    pending = new AbortController();
    try {
      const response = await fetch(`${box.dataset.source}?q=${encodeURIComponent(typed)}`, {
        headers: { Accept: "application/json" }, signal: pending.signal,
        credentials: "same-origin" });
      const answer = await response.json();
      if (!response.ok) {
        close();
        status.textContent = answer.error || "";
        return;
      }
      if (document.activeElement === input) show(answer.companies, answer.more, typed);
    } catch (error) {
      if (error.name !== "AbortError") close();
    }
  }

  input.addEventListener("input", () => {
    if (input.value !== picked) {
      idField.value = "";
      if (createField) createField.value = "";
    }
    clearTimeout(timer);
    if (!input.value.trim()) {
      close();
      return;
    }
    timer = setTimeout(lookUp, DELAY_MS);
  });

  input.addEventListener("keydown", (event) => {
    const open = !list.hidden;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!open) lookUp();
      else highlight((active + 1) % options.length);
    } else if (event.key === "ArrowUp" && open) {
      event.preventDefault();
      highlight(active <= 0 ? options.length - 1 : active - 1);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault();
      pick(options[active]);
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        close();
      } else if (input.value) {
        event.preventDefault();
        input.value = picked = idField.value = "";
        if (createField) createField.value = "";
      }
    } else if (event.key === "Tab") {
      close();
    }
  });

  input.addEventListener("blur", () => close());
  return () => {
    clearTimeout(timer);
    if (pending) pending.abort();
  };
}

definePage(import.meta.url, (main) => {
  const stops = [...main.querySelectorAll("[data-combobox]")].map(setUp);
  return () => stops.forEach((stop) => stop());
});
