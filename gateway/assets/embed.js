// DisCal embed helper (optional). Put <div data-discal="https://node.example/embed?view=list">
// where the calendar should go and load this script once; each such element gets an iframe
// that grows to its content's height. Without this script, a plain <iframe> works too.
(function () {
  function mount(el) {
    if (el.getAttribute("data-discal-mounted")) return;
    el.setAttribute("data-discal-mounted", "1");
    var src = el.getAttribute("data-discal");
    var origin;
    try { origin = new URL(src, document.baseURI).origin; } catch (e) { return; }
    var f = document.createElement("iframe");
    f.src = src;
    f.title = el.getAttribute("data-title") || "Calendar";
    f.loading = "lazy";
    f.style.width = "100%";
    f.style.border = "0";
    f.style.height = (el.getAttribute("data-height") || "400") + "px";
    el.appendChild(f);
    window.addEventListener("message", function (e) {
      if (e.source !== f.contentWindow || e.origin !== origin) return;
      var d = e.data;
      if (d && d.discal === "height" && typeof d.height === "number" && d.height > 0) {
        f.style.height = Math.min(Math.ceil(d.height), 20000) + "px";
      }
    });
  }
  function all() {
    var els = document.querySelectorAll("[data-discal]");
    for (var i = 0; i < els.length; i++) mount(els[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
})();
