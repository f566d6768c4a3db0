// Pipedreamer dashboard: the little the pages need beyond htmx (no inline script: the CSP
// allows only this origin's files).
(function () {
  "use strict";

  // The build log resumes after the last chunk shown. The browser's own reconnect sends
  // Last-Event-ID; when htmx-ext-sse opens a new EventSource instead (after an error status),
  // `?after=` carries it, and a chunk already shown is dropped, so no line is lost or repeated.
  function logElement() { return document.getElementById("log"); }
  htmx.createEventSource = function (url) {
    var log = logElement();
    var after = log ? Number(log.dataset.after || 0) : 0;
    if (after > 0) { url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + after; }
    return new EventSource(url, { withCredentials: true });
  };

  var follow = true;
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var log = logElement();
    if (!log || e.detail.type !== "log") { return; }
    var id = Number(e.detail.lastEventId || 0);
    if (id && id <= Number(log.dataset.after || 0)) { e.preventDefault(); return; }
    // Follow the end of the log unless the reader scrolled up.
    follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  });
  document.addEventListener("htmx:sseMessage", function (e) {
    var log = logElement();
    if (!log) { return; }
    if (e.detail.type === "log") {
      if (e.detail.lastEventId) { log.dataset.after = e.detail.lastEventId; }
      if (follow) { log.scrollTop = log.scrollHeight; }
    } else if (e.detail.type === "end") {
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.remove(); }
    }
  });

  // Copy buttons next to the webhook URL and secret.
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) { return; }
    var field = document.getElementById(button.dataset.copy);
    if (!field) { return; }
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done);
    } else {
      field.type = "text"; field.select(); document.execCommand("copy"); done();
    }
  });
})();
