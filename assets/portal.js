// OsirisCare portal: the little glue htmx needs. No inline scripts anywhere
// (the Content-Security-Policy forbids them), so page behaviour lives here.
(function () {
  "use strict";

  // Narrow screens fold the navigation into a menu (app.css hides it once
  // script runs); the button opens and closes it, Escape closes it.
  document.documentElement.classList.add("js");
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest(".nav-toggle");
    if (!toggle) { return; }
    var panel = document.getElementById(toggle.getAttribute("aria-controls"));
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (panel) { panel.classList.toggle("open", open); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var toggle = document.querySelector('.nav-toggle[aria-expanded="true"]');
    if (!toggle) { return; }
    toggle.setAttribute("aria-expanded", "false");
    var panel = document.getElementById(toggle.getAttribute("aria-controls"));
    if (panel) { panel.classList.remove("open"); }
    toggle.focus();
  });

  // Every htmx request carries the session's CSRF token, read from
  // <meta name="csrf-token">, which only signed-in pages render.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      event.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });

  // Server errors on htmx requests would otherwise be swallowed silently:
  // show the server's message in a toast so the user knows what happened.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "Request failed (" + xhr.status + ").";
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      try { text = JSON.parse(xhr.responseText).message || text; } catch (e) { /* keep default */ }
    } else if (xhr.getResponseHeader("X-Portal-Message")) {
      text = xhr.getResponseHeader("X-Portal-Message");
    }
    var toast = document.createElement("div");
    toast.className = "toast toast-error";
    toast.setAttribute("role", "alert");
    toast.textContent = text;
    document.body.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 6000);
  });

  document.addEventListener("htmx:sendError", function () {
    var toast = document.createElement("div");
    toast.className = "toast toast-error";
    toast.setAttribute("role", "alert");
    toast.textContent = "The portal could not be reached. Check your connection and try again.";
    document.body.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 6000);
  });
})();
