// paylinks: small progressive enhancements. Every page works without this
// file; it only adds conveniences. No inline handlers: CSP forbids them.
(function () {
  "use strict";

  // Controls that need this script (the list's Copy link) show only with it.
  document.documentElement.classList.add("js");

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

// The links list (views/links.templ, handlers/list_live.go).
(function () {
  "use strict";

  // Enter in the search box (or Search) goes straight to the link when the
  // term is the exact reference of one link; live search as staff type
  // never navigates. htmx sends the submit with this header; the server
  // answers HX-Redirect.
  document.body.addEventListener("htmx:configRequest", function (ev) {
    var trig = ev.detail.triggeringEvent;
    if (trig && trig.type === "submit" && ev.detail.elt && ev.detail.elt.matches("[data-testid=search-form]")) {
      ev.detail.headers["X-Search-Submit"] = "1";
    }
  });

  // Copy link on a row: the checkout URL to the clipboard, the button says
  // Copied, and a live region says so to screen readers.
  var copyStatus = document.getElementById("copy-status");
  function announce(text) {
    if (!copyStatus) {
      copyStatus = document.createElement("p");
      copyStatus.className = "sr-only";
      copyStatus.setAttribute("role", "status");
      copyStatus.setAttribute("data-testid", "copy-status");
      document.body.appendChild(copyStatus);
    }
    copyStatus.textContent = "";
    setTimeout(function () { copyStatus.textContent = text; }, 50);
  }
  function fallbackCopy(text) {
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.style.position = "fixed";
    field.style.opacity = "0";
    document.body.appendChild(field);
    field.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    field.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy-url]");
    if (!btn) return;
    var text = btn.getAttribute("data-copy-url");
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); })
      : fallbackCopy(text);
    var row = btn.closest("tr");
    var label = row ? "Link #" + row.getAttribute("data-id") : "The link";
    copy.then(function () {
      document.querySelectorAll(".copy-link.copied").forEach(function (b) {
        b.classList.remove("copied");
        b.firstChild.textContent = "Copy link";
      });
      btn.classList.add("copied");
      btn.firstChild.textContent = "Copied";
      announce(label + ": checkout link copied.");
    }, function () {
      announce("Could not copy. Open the link to copy its checkout link.");
    });
  });

  // Live rows: every 10 s while the tab is shown, ask for the rows on
  // screen (id and version) and the new links; put each changed row in
  // place of its own (a ticked box stays ticked, the focus stays in the
  // row), and say how many links are new.
  var busy = false;
  function results() { return document.querySelector("[data-list-live]"); }
  function poll() {
    var root = results();
    if (!root || busy || document.visibilityState !== "visible" || !window.fetch || !window.DOMParser) return;
    var rows = Array.prototype.map.call(root.querySelectorAll("tr[data-id]"), function (tr) {
      return tr.getAttribute("data-id") + ":" + (tr.getAttribute("data-version") || "");
    });
    var url = root.getAttribute("data-list-live") + "&rows=" + encodeURIComponent(rows.join(","));
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "error", headers: { Accept: "text/html" } })
      .then(function (resp) {
        if (resp.status !== 200 || results() !== root) return;
        return resp.text().then(function (html) { apply(root, html); });
      })
      .catch(function () { /* offline or signed out: try again later */ })
      .then(function () { busy = false; });
  }
  function apply(root, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var update = doc.querySelector("[data-list-update]");
    if (!update) return;
    update.querySelectorAll("tr[data-id]").forEach(function (src) {
      var dst = root.querySelector('tr[data-id="' + src.getAttribute("data-id") + '"]');
      if (!dst) return;
      var box = dst.querySelector("input[name=ids]");
      var row = document.importNode(src, true);
      var newBox = row.querySelector("input[name=ids]");
      if (box && newBox) newBox.checked = box.checked;
      // Focus inside the row stays on the same control, or on the row's
      // first link when that control went (Copy link on a paid link).
      var focused = dst.contains(document.activeElement) ? document.activeElement.getAttribute("data-testid") : null;
      dst.replaceWith(row);
      if (focused !== null) {
        var again = (focused && row.querySelector('[data-testid="' + focused + '"]')) || row.querySelector("a[href]");
        if (again) again.focus();
      }
    });
    var bar = root.querySelector("[data-testid=new-links]");
    var count = update.getAttribute("data-new") || "";
    if (bar && bar.getAttribute("data-count") !== count) {
      bar.setAttribute("data-count", count);
      bar.replaceChildren();
      if (count) {
        var words = document.createElement("span");
        words.textContent = count + " since you opened this list";
        var show = document.createElement("a");
        show.className = "button small";
        show.href = bar.getAttribute("data-show-url");
        show.textContent = "Show";
        show.setAttribute("data-testid", "show-new-links");
        bar.append(words, show);
      }
    }
  }
  setInterval(poll, 10000);
  document.addEventListener("visibilitychange", poll);
})();
