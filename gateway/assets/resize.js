// Tells the page that embeds this view how tall the content is, so embed.js can size the
// iframe without a scrollbar. The view works without it.
(function () {
  if (window.parent === window) return;
  var last = 0;
  function send() {
    var h = document.documentElement.scrollHeight;
    if (h === last) return;
    last = h;
    window.parent.postMessage({ discal: "height", height: h }, "*");
  }
  window.addEventListener("load", send);
  window.addEventListener("resize", send);
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.documentElement);
})();
