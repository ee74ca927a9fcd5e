// OsirisCare portal: the little glue htmx needs. No inline scripts anywhere
// (the Content-Security-Policy forbids them), so page behaviour lives here.
(function () {
  "use strict";

  // Narrow screens fold the navigation into a menu (app.css hides it once
  // script runs); the button opens and closes it, Escape closes it.
  document.documentElement.classList.add("js");
  function setMenu(toggle, open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    var panel = document.getElementById(toggle.getAttribute("aria-controls"));
    if (panel) { panel.classList.toggle("open", open); }
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest(".nav-toggle");
    if (toggle) { setMenu(toggle, toggle.getAttribute("aria-expanded") !== "true"); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var toggle = document.querySelector('.nav-toggle[aria-expanded="true"]');
    if (!toggle) { return; }
    setMenu(toggle, false);
    toggle.focus();
  });

  // Every htmx request carries the session's CSRF token, read from
  // <meta name="csrf-token">, which only signed-in pages render.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      event.detail.headers["X-CSRF-Token"] = meta.content;
    }
    // A filter form's request names only the fields that are set.
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form[data-url-filters]");
    if (form && event.detail.verb === "get") {
      Array.from(event.detail.formData.entries()).forEach(function (pair) {
        if (pair[1] === "") { delete event.detail.parameters[pair[0]]; }
      });
    }
  });

  // Filter forms (`data-url-filters`) show what the address says. Back and
  // Forward restore a page htmx saved, whose fields hold what was typed
  // last rather than the filters of that entry; the address is the truth.
  function syncFiltersWithAddress() {
    var params = new URLSearchParams(window.location.search);
    document.querySelectorAll("form[data-url-filters]").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || field.type === "submit" || field.type === "button") { return; }
        var value = params.get(field.name) || "";
        if (field.tagName === "SELECT" && value !== "" &&
            !Array.prototype.some.call(field.options, function (o) { return o.value === value; })) {
          var option = document.createElement("option");
          option.value = value;
          option.textContent = value;
          field.appendChild(option);
        }
        field.value = value;
      });
    });
  }
  document.addEventListener("htmx:historyRestore", syncFiltersWithAddress);
  window.addEventListener("pageshow", syncFiltersWithAddress);

  // After htmx swaps something in place, focus goes somewhere sensible and
  // the result is announced:
  // - a form answered with an error: its first invalid field (the field
  //   names its message with aria-describedby);
  // - focus was inside what was replaced (a row whose "Mark read" was
  //   pressed, a progress box): the new version of it;
  // - rows appended ("Load more", whose button goes away): the first new row;
  // - a person's action whose control went away: the updated region.
  // Background polls (the badge) never move focus. Elements marked
  // `data-announce` in the new content are read out through one polite
  // live region (#live-announcer) that every page has from the start; a
  // region replaced whole would not be announced by itself. What each
  // request found before its swap travels on its own XMLHttpRequest, so a
  // poll answered meanwhile cannot take a person's focus decision.
  function focusable(el) {
    if (!el.hasAttribute("tabindex") && !el.matches("a[href], button, input, select, textarea, summary")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus({ preventScroll: false });
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var config = event.detail.requestConfig || {};
    var trigger = config.triggeringEvent;
    var background = config.headers && config.headers["X-Portal-Background"];
    var swap = (event.detail.elt && event.detail.elt.getAttribute("hx-swap")) || "";
    if (!event.detail.xhr) { return; }
    event.detail.xhr.portalFocus = {
      id: target && target.id,
      hadFocus: !!(target && target.contains(document.activeElement) && document.activeElement !== document.body),
      byPerson: !background && !!trigger && trigger.type !== "load",
      appendedAfter: swap.indexOf("beforeend") === 0 && target ? target.lastElementChild : null,
      appendTo: swap.indexOf("beforeend") === 0 ? target : null
    };
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    // Fired for each element the swap settled: decide once per request.
    var xhr = event.detail.xhr;
    var p = xhr && xhr.portalFocus;
    if (!p) { return; }
    xhr.portalFocus = null;
    var root = p.id ? document.getElementById(p.id) : null;
    var lost = !document.activeElement || document.activeElement === document.body;
    if (root && p.byPerson) {
      var invalid = root.querySelector('[aria-invalid="true"]');
      if (invalid) { invalid.focus(); }
      else if (lost && p.appendTo) {
        var first = p.appendedAfter ? p.appendedAfter.nextElementSibling : p.appendTo.firstElementChild;
        if (first) { focusable(first); }
      } else if (lost) { focusable(root); }
    } else if (root && p.hadFocus && lost) {
      focusable(root);
    }
    if (root && p.byPerson) {
      var said = Array.prototype.map.call(root.querySelectorAll("[data-announce]"), function (el) {
        return el.textContent.replace(/\s+/g, " ").trim();
      }).filter(Boolean).join(". ");
      var live = document.getElementById("live-announcer");
      if (live && said) {
        // Cleared first, so the same words twice are read twice.
        live.textContent = "";
        setTimeout(function () { live.textContent = said; }, 50);
      }
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
