// Follows an order live without a framework: every 2 s the server renders the status fragment again; it
// replaces the page's only when it changed, and never while someone is typing in it.
(function () {
  "use strict";
  function poll(region) {
    var url = region.getAttribute("data-poll");
    setInterval(function () {
      if (region.contains(document.activeElement) && document.activeElement.tagName !== "BUTTON") { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").body.firstElementChild;
          if (fresh && fresh.getAttribute("data-version") !== region.getAttribute("data-version")) {
            region.setAttribute("data-version", fresh.getAttribute("data-version"));
            region.replaceChildren(fresh);
          }
        })
        .catch(function () { /* the next round tries again */ });
    }, 2000);
  }
  function reloadWhenReady(region) {
    var url = region.getAttribute("data-reload-when-ready");
    var tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      if (tries > 60) { clearInterval(timer); return; }
      fetch(url, { credentials: "same-origin" }).then(function (response) {
        if (response.ok) { clearInterval(timer); window.location.reload(); }
      }).catch(function () {});
    }, 1500);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("[data-reload-when-ready]").forEach(reloadWhenReady);
  });
})();
