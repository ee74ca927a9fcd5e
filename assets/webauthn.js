// OsirisCare portal: passkeys and security keys (WebAuthn). A form marked
// data-webauthn="register" or data-webauthn="authenticate" asks its
// data-options-url for options, lets the browser talk to the authenticator,
// puts the answer (JSON, as webauthn-rs reads it) in its hidden "credential"
// field and submits itself. No inline scripts (the Content-Security-Policy
// forbids them), so this file does it all.
(function () {
  "use strict";

  var NO_WEBAUTHN = "This browser cannot use passkeys or security keys; " +
    "use an authenticator app or a recovery code.";
  var CANCELLED = "Cancelled or timed out. Try again.";
  var UNREACHABLE = "The portal could not be reached. Check your connection and try again.";

  // An error whose message is meant for the person at the browser.
  function Shown(message) {
    this.message = message;
  }

  // base64url (RFC 4648 section 5) to an ArrayBuffer. webauthn-rs sends it
  // unpadded; padded or standard base64 is read too.
  function fromBase64url(text) {
    var b64 = String(text).replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4 !== 0) {
      b64 += "=";
    }
    var binary = atob(b64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  // An ArrayBuffer (or a view of one) to unpadded base64url.
  function toBase64url(buffer) {
    var bytes = buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIds(list) {
    if (!list) {
      return list;
    }
    return list.map(function (descriptor) {
      var copy = {};
      for (var key in descriptor) {
        if (Object.prototype.hasOwnProperty.call(descriptor, key)) {
          copy[key] = descriptor[key];
        }
      }
      copy.id = fromBase64url(descriptor.id);
      return copy;
    });
  }

  // CreationChallengeResponse to the options of navigator.credentials.create.
  function creationOptions(answer) {
    var publicKey = answer && answer.publicKey;
    if (!publicKey || !publicKey.challenge || !publicKey.user) {
      throw new Shown("The portal's answer did not contain passkey options. Reload the page and try again.");
    }
    publicKey.challenge = fromBase64url(publicKey.challenge);
    publicKey.user.id = fromBase64url(publicKey.user.id);
    if (publicKey.excludeCredentials) {
      publicKey.excludeCredentials = decodeIds(publicKey.excludeCredentials);
    }
    return { publicKey: publicKey };
  }

  // RequestChallengeResponse to the options of navigator.credentials.get.
  function requestOptions(answer) {
    var publicKey = answer && answer.publicKey;
    if (!publicKey || !publicKey.challenge) {
      throw new Shown("The portal's answer did not contain passkey options. Reload the page and try again.");
    }
    publicKey.challenge = fromBase64url(publicKey.challenge);
    if (publicKey.allowCredentials) {
      publicKey.allowCredentials = decodeIds(publicKey.allowCredentials);
    }
    var options = { publicKey: publicKey };
    if (answer.mediation) {
      options.mediation = answer.mediation;
    }
    return options;
  }

  // The client extension results webauthn-rs reads, with the types it
  // expects; others (unsigned, unused by the portal) are left out.
  function extensionsOf(credential, registering) {
    var results = {};
    var out = {};
    if (typeof credential.getClientExtensionResults === "function") {
      results = credential.getClientExtensionResults() || {};
    }
    if (typeof results.appid === "boolean") {
      out.appid = results.appid;
    }
    if (registering && results.credProps && typeof results.credProps.rk === "boolean") {
      out.credProps = { rk: results.credProps.rk };
    }
    return out;
  }

  // A created credential as webauthn-rs's RegisterPublicKeyCredential.
  function registrationJson(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toBase64url(response.attestationObject),
        clientDataJSON: toBase64url(response.clientDataJSON)
      },
      extensions: extensionsOf(credential, true)
    };
    if (typeof response.getTransports === "function") {
      json.response.transports = response.getTransports();
    }
    return json;
  }

  // An assertion as webauthn-rs's PublicKeyCredential.
  function assertionJson(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toBase64url(response.authenticatorData),
        clientDataJSON: toBase64url(response.clientDataJSON),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null
      },
      extensions: extensionsOf(credential, false)
    };
  }

  // The words for a refused options request: the JSON message, the
  // portal's message header, or the text of a plain answer.
  function refusal(response, text) {
    var type = response.headers.get("Content-Type") || "";
    var fallback = "Request failed (" + response.status + ").";
    if (type.indexOf("application/json") === 0) {
      try {
        return JSON.parse(text).message || fallback;
      } catch (e) {
        return fallback;
      }
    }
    if (response.headers.get("X-Portal-Message")) {
      return response.headers.get("X-Portal-Message");
    }
    if (type.indexOf("text/html") === 0) {
      return fallback;
    }
    text = text.replace(/\s+/g, " ").trim();
    return text ? text.slice(0, 300) : fallback;
  }

  function fetchOptions(form) {
    var headers = { "Accept": "application/json" };
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      headers["X-CSRF-Token"] = meta.content;
    }
    return fetch(form.getAttribute("data-options-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: new URLSearchParams(new FormData(form))
    }).then(function (response) {
      if (!response.ok) {
        return response.text().then(function (text) {
          throw new Shown(refusal(response, text));
        });
      }
      return response.json().catch(function () {
        throw new Shown("The portal's answer was not understood. Reload the page and try again.");
      });
    }, function () {
      throw new Shown(UNREACHABLE);
    });
  }

  // What went wrong, in words: the browser's WebAuthn errors by name.
  function describe(error, registering) {
    if (error instanceof Shown) {
      return error.message;
    }
    switch (error && error.name) {
      case "NotAllowedError":
      case "AbortError":
        return CANCELLED;
      case "InvalidStateError":
        return registering
          ? "This passkey or security key is already registered to your account; use another one."
          : CANCELLED;
      case "NotSupportedError":
        return "This passkey or security key cannot make the kind of key the portal asks for; use another one.";
      case "SecurityError":
        return "This page's address cannot use passkeys; open the portal at its usual address.";
      default:
        return "The passkey or security key did not work" +
          (error && error.message ? ": " + error.message : ".");
    }
  }

  function submitButtons(form) {
    return form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
  }

  function setBusy(form, busy) {
    form.webauthnBusy = busy;
    var buttons = submitButtons(form);
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = busy;
    }
    if (busy) {
      form.setAttribute("aria-busy", "true");
    } else {
      form.removeAttribute("aria-busy");
    }
  }

  function showError(form, message) {
    var target = form.querySelector("[data-webauthn-error]");
    if (target) {
      target.textContent = message;
      target.hidden = false;
      return;
    }
    var toast = document.createElement("div");
    toast.className = "toast toast-error";
    toast.setAttribute("role", "alert");
    toast.textContent = message;
    document.body.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 6000);
  }

  function clearError(form) {
    var target = form.querySelector("[data-webauthn-error]");
    if (target) {
      target.textContent = "";
    }
  }

  function credentialField(form) {
    var field = form.querySelector('input[name="credential"]');
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "credential";
      form.appendChild(field);
    }
    return field;
  }

  function run(form, registering) {
    clearError(form);
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(form, NO_WEBAUTHN);
      return;
    }
    setBusy(form, true);
    fetchOptions(form).then(function (answer) {
      if (registering) {
        return navigator.credentials.create(creationOptions(answer)).then(registrationJson);
      }
      return navigator.credentials.get(requestOptions(answer)).then(assertionJson);
    }).then(function (json) {
      credentialField(form).value = JSON.stringify(json);
      // The prototype's submit: a field named "submit" cannot shadow it,
      // and it fires no submit event, so this handler does not run again.
      HTMLFormElement.prototype.submit.call(form);
    }).catch(function (error) {
      showError(form, describe(error, registering));
      setBusy(form, false);
    });
  }

  // Delegated, so forms swapped in by htmx work too.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var mode = form.getAttribute("data-webauthn");
    if (mode !== "register" && mode !== "authenticate") {
      return;
    }
    event.preventDefault();
    if (!form.webauthnBusy) {
      run(form, mode === "register");
    }
  });

  // A page restored by the Back button keeps its disabled buttons otherwise.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    var forms = document.querySelectorAll("form[data-webauthn]");
    for (var i = 0; i < forms.length; i++) {
      setBusy(forms[i], false);
    }
  });
})();
