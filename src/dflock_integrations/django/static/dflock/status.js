// The dflock status page: its live part (#dflock-live) is fetched again every
// data-refresh seconds and replaced in place, so the page keeps its scroll position.
// A failed fetch (the server down, the session expired) leaves the last tables and
// says so; the next one is tried all the same.
(function () {
  "use strict";
  var live = document.getElementById("dflock-live");
  var seconds = live ? Number(live.dataset.refresh) : 0;
  if (!(seconds > 0)) {
    return;
  }
  var note = document.getElementById("dflock-refresh-note");

  function say(text) {
    if (note) {
      note.textContent = text;
    }
  }

  function refresh() {
    fetch(live.dataset.fragmentUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        // A redirect means the login page: the session is gone.
        if (!response.ok || response.redirected) {
          throw new Error(response.redirected ? "logged out" : "HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        say(", last at " + new Date().toLocaleTimeString());
      })
      .catch(function (error) {
        say(", not updated: " + error.message);
      })
      .then(function () {
        window.setTimeout(refresh, seconds * 1000);
      });
  }

  window.setTimeout(refresh, seconds * 1000);
})();
