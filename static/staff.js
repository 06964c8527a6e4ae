// What the agent console and the supervisor's page share: the API token kept for this
// tab only (sessionStorage), the call to the REST API with its JSON error body, the
// banner, the sign-in form and the helpers that build elements. It defines one global,
// `staff`, and each page's own script, loaded after it, takes what it needs.
//
// Server data only ever reaches the page through textContent or text nodes, never as
// markup: message text, queue names, notes and rule documents are typed by people. The
// token is never logged.
(function () {
  "use strict";

  const TOKEN_KEY = "frontdesk.staff_token";
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY);

  // The token: read from this tab's storage at load, kept there once it signed in.

  function currentToken() {
    return token;
  }

  function keepToken() {
    sessionStorage.setItem(TOKEN_KEY, token);
  }

  function forgetToken() {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  // Building blocks.

  // Makes an element; strings among the children become text nodes, never markup.
  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function button(label, className, onClick) {
    const b = el("button", className, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function shortId(id) {
    return id ? id.slice(0, 8) : "";
  }

  // The API's error body, `{"error": {"code", "message", "problems"?}}`, as an exception.
  class ApiFailure extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || "the server answered " + status);
      this.status = status;
      this.code = error.code || "http_" + status;
      this.problems = error.problems || [];
    }
  }

  async function api(method, path, body) {
    const init = { method, headers: { authorization: "Bearer " + token } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (networkError) {
      throw new ApiFailure(0, { error: { code: "network", message: "the server cannot be reached" } });
    }
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (notJson) {
      parsed = null;
    }
    if (!response.ok) throw new ApiFailure(response.status, parsed);
    return parsed;
  }

  function banner(text, kind) {
    $("banner").className = "banner " + kind;
    $("banner-text").textContent = text;
    $("banner").hidden = false;
  }

  function inform(text) {
    banner(text, "info");
  }

  // Returns the page's way to show an API error to the person; a 401 means the token
  // no longer works, so the page signs out.
  function reporter(signOut) {
    return (error) => {
      if (error.status === 401) {
        signOut("Signed out: " + error.message);
        return;
      }
      banner(error.message + (error.code ? " (" + error.code + ")" : ""), "error");
    };
  }

  // Wires the sign-in form and the banner's close button. `hint` is shown for a pasted
  // value that is not a token; `signIn` runs with the new token in place.
  function wireSignIn(hint, signIn) {
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const value = $("token").value.trim();
      $("token").value = "";
      if (!value.startsWith("fda_")) {
        $("login-error").textContent = hint;
        return;
      }
      token = value;
      signIn();
    });
    $("banner-close").addEventListener("click", () => ($("banner").hidden = true));
  }

  window.staff = Object.freeze({
    $,
    el,
    button,
    shortId,
    api,
    banner,
    inform,
    reporter,
    wireSignIn,
    token: currentToken,
    keepToken,
    forgetToken,
  });
})();
