// Click-to-dial: every phone number in the CRM is a link
//   <a class="tel" href="tel:+34911234567" data-dial="+34911234567">911 23 45 67</a>
// (web/formatting.py renders it). Where the page has the softphone, a click calls the
// number from it; where the dialer is hidden, the tel: link does what the computer does
// with phone links (a desk phone app, a mobile...).
//
// The softphone dials at once when its line is up and free. When it is offline, busy or
// still connecting, the number is put in its number field instead, so the agent can
// call when ready: a click never silently does nothing.
//
// Modified clicks (Ctrl, Shift, Alt, Meta, middle button) are left to the browser.

const slot = document.getElementById("softphone-slot");

// The same module instance the page's <script type="module"> loaded: one softphone.
const softphoneReady = slot
  ? import("./softphone-boot.js").then((boot) => boot.softphone).catch(() => null)
  : Promise.resolve(null);

function isLive(call) {
  return Boolean(call) && call.state !== "ended";
}

/** Whether the softphone can place a call right now. */
function canDial(phone) {
  return phone.socketOpen && phone.dialerAllowed && phone.lineState === "registered"
    && !isLive(phone.currentCall);
}

/** Put `number` in the softphone's number field (and focus it when it is shown). */
function fill(phone, number) {
  const input = phone.number;
  if (!input) return false;
  input.value = number;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  if (input.offsetParent !== null) input.focus();
  return true;
}

/**
 * Call `number` from `phone`, or leave it in the number field when it cannot call now.
 * Returns "dialed" or "filled". Dispatches `click-to-dial` on document with that result.
 */
export function dialOrFill(phone, number) {
  const result = canDial(phone) && phone.dial(number) ? "dialed" : (fill(phone, number), "filled");
  document.dispatchEvent(new CustomEvent("click-to-dial", { detail: { number, result } }));
  return result;
}

function dialLink(event) {
  if (event.defaultPrevented || event.button !== 0) return null;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return null;
  const link = event.target instanceof Element ? event.target.closest("a[data-dial]") : null;
  const number = link ? (link.dataset.dial || "").trim() : "";
  return number ? number : null;
}

if (slot) {
  document.addEventListener("click", (event) => {
    const number = dialLink(event);
    if (!number) return;
    // Decided now, before the browser follows the tel: link; the softphone may still be
    // loading, in which case the click waits for it.
    event.preventDefault();
    softphoneReady.then((phone) => {
      if (phone) dialOrFill(phone, number);
      else window.location.href = `tel:${number}`;
    });
  });
}
