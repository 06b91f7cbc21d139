// Mounts the softphone into #softphone-slot when the page has one.
//
// Configuration, all optional, without inline script (the CSP forbids it): a JSON block
// <script type="application/json" id="softphone-config">{"wsUrl": "/ws"}</script>, or
// data- attributes on the slot (data-ws-url, data-lang, data-ice-gather-timeout-ms).
// Other page scripts reach the instance with `import { softphone } from ".../softphone-boot.js"`
// or listen for the bubbling `softphone:*` events on document.

import { mount } from "./softphone.js";

function readConfig(slot) {
  const config = {};
  const block = document.getElementById("softphone-config");
  if (block && block.type === "application/json") {
    try {
      Object.assign(config, JSON.parse(block.textContent || "{}"));
    } catch {
      console.warn("softphone: #softphone-config is not valid JSON; ignored");
    }
  }
  const { wsUrl, lang, iceGatherTimeoutMs } = slot.dataset;
  if (wsUrl) config.wsUrl = wsUrl;
  if (lang) config.lang = lang;
  if (iceGatherTimeoutMs) config.iceGatherTimeoutMs = Number(iceGatherTimeoutMs);
  return config;
}

const slot = document.getElementById("softphone-slot");

export const softphone = slot ? mount(slot, readConfig(slot)) : null;
