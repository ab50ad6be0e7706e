// paylinks: small progressive enhancements. Every page works without this
// file; it only adds conveniences. No inline handlers: CSP forbids them.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#id"> copies the text of the target.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var target = document.querySelector(btn.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) return;
    var text = target.value !== undefined ? target.value : target.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var old = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = old; }, 1500);
    });
  });

  // Confirm dangerous actions: <form data-confirm="Disable this user?">.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
})();

// Live link page: the element carrying data-live-url (the status badge's
// wrapper) makes the page fetch that fragment every 1.5 s while the tab is
// visible, and put each of its [data-live-part] children in place of the
// page's element with the same data-live-part (status, flags, actions,
// timeline). A part carrying data-live-key (the action area) is replaced
// only when its key changed (the link's status did), so a form someone is
// filling in there is never wiped by an unrelated update.
// The server answers 204 while nothing changed (?v= carries the version it
// last sent). Without this script the page is simply a page: reload it.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch || !window.DOMParser) return;
  var url = root.getAttribute("data-live-url");
  var version = "";
  var busy = false;
  var stopped = false;

  function apply(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fragment = doc.querySelector("[data-live-version]");
    if (!fragment) return;
    version = fragment.getAttribute("data-live-version") || "";
    fragment.querySelectorAll("[data-live-part]").forEach(function (src) {
      var name = src.getAttribute("data-live-part");
      var dst = document.querySelector('[data-live-part="' + name + '"]');
      if (!dst) return;
      var key = src.getAttribute("data-live-key");
      if (key !== null) {
        if (dst.getAttribute("data-live-key") === key) return;
        dst.setAttribute("data-live-key", key);
        dst.setAttribute("data-status", src.getAttribute("data-status") || "");
      }
      if (dst.innerHTML !== src.innerHTML) {
        dst.replaceChildren.apply(dst, Array.prototype.slice.call(src.childNodes));
      }
    });
  }

  function poll() {
    if (stopped || busy || document.visibilityState !== "visible") return;
    busy = true;
    var target = url + (version ? "?v=" + encodeURIComponent(version) : "");
    fetch(target, { credentials: "same-origin", cache: "no-store", redirect: "error", headers: { Accept: "text/html" } })
      .then(function (resp) {
        if (resp.status === 200) return resp.text().then(apply);
        // 401/403/404: signed out, no access any more, or gone: stop asking.
        if (resp.status >= 400 && resp.status < 500) stopped = true;
      })
      .catch(function () { /* offline or signed out (a redirect): try again later */ })
      .then(function () { busy = false; });
  }

  setInterval(poll, 1500);
  document.addEventListener("visibilitychange", poll);
  poll();
})();

// After a refused submit, focus moves to the error summary, so a keyboard
// or screen-reader user starts at the list of problems; each line links to
// its field.
(function () {
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("[data-error-summary] a[href^='#']");
    if (!a) return;
    var field = document.getElementById(a.getAttribute("href").slice(1));
    if (!field) return;
    ev.preventDefault();
    var details = field.closest("details");
    if (details) details.open = true;
    field.focus();
  });
})();
