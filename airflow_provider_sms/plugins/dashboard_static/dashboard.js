/* The "SMS & Voice" page: loads its sections (server-rendered SVG) with the Airflow sign-in.
 *
 * Airflow 3.2+ keeps the sign-in in an HttpOnly cookie that the browser sends by itself;
 * Airflow 3.1's UI keeps the token in localStorage ("token") and sends it as a Bearer header.
 * The page holds no data of its own: without a valid sign-in the data endpoints answer 401.
 */
(function () {
  "use strict";

  var content = document.getElementById("content");
  var status = document.getElementById("status");
  var select = document.getElementById("days");

  function storedToken() {
    try {
      return window.localStorage.getItem("token");
    } catch (e) {
      return null;
    }
  }

  /* Follow Airflow's light/dark mode: the parent page's <html class="dark"> when framed,
   * else Airflow's stored choice ("theme"), else the system's preference. */
  function parentRoot() {
    try {
      return window.parent !== window ? window.parent.document.documentElement : null;
    } catch (e) {
      return null;
    }
  }

  function applyTheme() {
    var root = parentRoot();
    var dark = null;
    if (root && (root.classList.contains("dark") || root.classList.contains("light"))) {
      dark = root.classList.contains("dark");
    }
    if (dark === null) {
      var stored = null;
      try {
        stored = window.localStorage.getItem("theme");
      } catch (e) {
        stored = null;
      }
      var system = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
      dark = stored === "dark" || ((stored === null || stored === "system") && system);
    }
    document.documentElement.classList.toggle("dark", dark);
  }

  function watchTheme() {
    applyTheme();
    var root = parentRoot();
    if (root && window.MutationObserver) {
      new MutationObserver(applyTheme).observe(root, { attributes: true, attributeFilter: ["class"] });
    }
    if (window.matchMedia) {
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
    }
    window.addEventListener("storage", applyTheme);
  }

  function request(days, withToken) {
    var headers = { Accept: "text/html" };
    var token = withToken ? storedToken() : null;
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    return fetch("api/sections?days=" + encodeURIComponent(days), {
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
    });
  }

  function show(state, message) {
    document.body.setAttribute("data-state", state);
    status.textContent = message;
  }

  function load() {
    var days = select.value;
    show("loading", "Loading…");
    request(days, true)
      .then(function (response) {
        if ((response.status === 401 || response.status === 403) && storedToken()) {
          return request(days, false); /* a stale token: the sign-in cookie may still be valid */
        }
        return response;
      })
      .then(function (response) {
        if (response.ok) {
          return response.text().then(function (html) {
            content.innerHTML = html;
            show("ready", "");
          });
        }
        content.innerHTML = "";
        if (response.status === 401) {
          show("unauthenticated", "Sign in to Airflow to see this page.");
          var link = document.createElement("a");
          link.href = "../../";
          link.target = "_top";
          link.textContent = " Open Airflow";
          status.appendChild(link);
        } else if (response.status === 403) {
          show("forbidden", "You need Airflow's permission to read assets to see this page.");
        } else {
          show("error", "Could not load the page's data (HTTP " + response.status + ").");
        }
      })
      .catch(function () {
        content.innerHTML = "";
        show("error", "Could not reach the Airflow API server.");
      });
  }

  var wanted = new URLSearchParams(window.location.search).get("days");
  if (wanted && select.querySelector('option[value="' + CSS.escape(wanted) + '"]')) {
    select.value = wanted;
  }
  select.addEventListener("change", function () {
    window.history.replaceState(null, "", "?days=" + encodeURIComponent(select.value));
    load();
  });
  watchTheme();
  load();
})();
