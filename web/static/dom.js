// Building DOM nodes without innerHTML: h("button", {class: "x", onclick: fn}, "Text").
// Text children become text nodes (never parsed as HTML); null and false are skipped, so
// `cond && h(...)` reads naturally.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.filter((child) => child != null && child !== false));
  return el;
}
