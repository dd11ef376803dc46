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

// Feedback buttons post JSON and say thanks in place; without JavaScript the form posts and comes back.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.classList || !form.classList.contains("feedback")) return;
  const button = event.submitter;
  if (!button) return;
  event.preventDefault();
  const data = new FormData(form);
  const body = { query: data.get("query"), document: data.get("document"), verdict: button.value };
  if (data.get("heading")) body.heading = data.get("heading");
  if (data.get("line")) body.line = Number(data.get("line"));
  try {
    const response = await fetch("/api/feedback", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(String(response.status));
    form.textContent = button.value === "solved" ? "Thanks: marked as solved." : "Thanks: recorded as not helpful.";
    form.classList.add("sent");
    form.setAttribute("role", "status");
  } catch (error) {
    // fall back to the plain form post; form.submit() sends no submitter, so name the verdict
    const verdict = document.createElement("input");
    verdict.type = "hidden";
    verdict.name = "verdict";
    verdict.value = button.value;
    form.appendChild(verdict);
    form.submit();
  }
});

// Ctrl+Enter (Cmd+Enter) sends the paste, as in most tools with a large text box.
document.addEventListener("keydown", (event) => {
  const box = event.target;
  if (box && box.id === "paste-text" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    box.form.requestSubmit();
  }
});

// Filters are folded behind a "Filters" button on phones (the server sends them folded); wider
// screens have room for them beside the results.
const WIDE = window.matchMedia("(min-width: 601px)");
function unfoldFiltersOnWideScreens(root) {
  const filters = root.querySelector("details.facets");
  if (filters && WIDE.matches) filters.open = true;
}
unfoldFiltersOnWideScreens(document);

// Search as you type: after a pause, fetch the server-rendered results page and swap its <main>,
// cancelling a request that a newer keystroke made stale; the URL follows, so reload and back work.
// Enter still submits the form (and only submitted searches are logged).
(() => {
  const box = document.getElementById("q");
  if (!box || location.pathname !== "/") return;
  let timer = null;
  let pending = null;
  let shown = box.value.trim();
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => show(box.value.trim()), 250);
  });
  box.form.addEventListener("submit", () => {
    clearTimeout(timer);
    if (pending) pending.abort();
  });
  async function show(query) {
    if (query === shown || (query.length > 0 && query.length < 2)) return;
    if (pending) pending.abort();
    pending = new AbortController();
    const params = new URLSearchParams(location.search);
    ["q", "offset", "thanks"].forEach((name) => params.delete(name));
    if (query) params.set("q", query);
    const url = params.toString() ? "/?" + params.toString() : "/";
    try {
      const response = await fetch(url, { signal: pending.signal, headers: { "X-Casebook-Typing": "1" } });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const main = page.querySelector("main");
      if (!main) return;
      document.querySelector("main").replaceWith(main);
      unfoldFiltersOnWideScreens(main);
      document.title = page.title;
      history.replaceState(null, "", url);
      shown = query;
    } catch (error) {
      // a stale request was cancelled, or the server is unreachable: Enter still submits the form
    }
  }
})();

// Back from a document, the list opens at the result that was clicked (`#r3`), unfolding the less
// related results when it is one of them.
function showLinkedResult() {
  const target = /^#r\d+$/.test(location.hash) && document.getElementById(location.hash.slice(1));
  if (!target) return;
  const folded = target.closest("details");
  if (folded && !folded.open) {
    folded.open = true;
    target.scrollIntoView();
  }
}
showLinkedResult();
