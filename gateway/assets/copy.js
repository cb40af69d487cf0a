// The view builder's copy buttons: a button after every [data-copy] element puts its text on
// the clipboard. Without JavaScript the addresses are plain text to select.
document.querySelectorAll("[data-copy]").forEach((el) => {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "copy";
  b.textContent = el.dataset.copy;
  b.addEventListener("click", () => {
    navigator.clipboard.writeText(el.textContent).then(() => { b.textContent = "✓"; });
  });
  el.after(b);
});
