// gitkube dashboard: the little page behaviour htmx does not do. Keeps a log view scrolled to
// its end while new lines arrive (unless the reader scrolled up).
document.addEventListener("htmx:sseBeforeMessage", function (event) {
  var log = event.target;
  if (log && log.classList && log.classList.contains("log")) {
    log.dataset.follow = (log.scrollHeight - log.scrollTop - log.clientHeight < 40) ? "1" : "0";
  }
});
document.addEventListener("htmx:sseMessage", function (event) {
  var log = event.target;
  if (log && log.classList && log.classList.contains("log") && log.dataset.follow !== "0") {
    log.scrollTop = log.scrollHeight;
  }
});
