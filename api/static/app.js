// Progressive enhancement only: the page works without JavaScript.
// "/" focuses the search box, as on most search sites.
document.addEventListener("keydown", (event) => {
  const box = document.getElementById("q");
  if (event.key === "/" && box && document.activeElement !== box) {
    event.preventDefault();
    box.focus();
    box.select();
  }
});
