/* Shared helpers of the dashboard pages: API calls with the session, CSRF, formatting,
   element building. Plain script (no build step); exposes window.DF. */
(function () {
  "use strict";

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  /* fetch() with the session cookie; unsafe methods carry the CSRF token from the
     devfactory_csrf cookie. A 401 means the session ended: go sign in again. */
  async function api(path, options) {
    const opts = Object.assign({ method: "GET", credentials: "same-origin" }, options || {});
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (opts.method !== "GET" && opts.method !== "HEAD") {
      headers["X-CSRF-Token"] = cookie("devfactory_csrf");
    }
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    opts.headers = headers;
    const response = await fetch(path, opts);
    if (response.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("signed out");
    }
    return response;
  }

  async function json(path, options) {
    const response = await api(path, options);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const message = body && body.error ? body.error : response.status + " " + response.statusText;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  /* el("li", {class: "x", dataset: {id: 1}}, [children or text]) */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function dig(obj, path) {
    return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
  }

  function format(value, kind) {
    if (value === null || value === undefined || (typeof value === "number" && isNaN(value))) return "—";
    switch (kind) {
      case "percent": return (value * 100).toFixed(value >= 0.995 || value === 0 ? 0 : 1) + " %";
      case "ms": return (value * 1000).toFixed(value < 0.01 ? 2 : 0) + " ms";
      case "seconds": return value.toFixed(1) + " s";
      case "bytes": {
        const units = ["B", "KiB", "MiB", "GiB"];
        let v = value, i = 0;
        while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
        return v.toFixed(i ? 1 : 0) + " " + units[i];
      }
      default: return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
    }
  }

  function showError(node, error) {
    if (!node) return;
    if (error) { node.textContent = String(error.message || error); node.hidden = false; }
    else { node.textContent = ""; node.hidden = true; }
  }

  window.DF = { api, json, cookie, el, dig, format, showError };
})();
