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

// "My languages": the languages an engineer reads, remembered in this browser and sent with every search
// from the search box (`language=pt&language=en`); none chosen sends none: every language. Until a choice
// is made (nothing stored), the URL's languages stand, as without JavaScript.
const MY_LANGUAGES = "casebook.languages";
function myLanguages() {
  try {
    const stored = JSON.parse(localStorage.getItem(MY_LANGUAGES));
    return Array.isArray(stored) ? stored.filter((code) => typeof code === "string") : null;
  } catch (error) {
    return null; // storage blocked or garbled: no choice
  }
}
function rememberLanguages(codes) {
  try {
    localStorage.setItem(MY_LANGUAGES, JSON.stringify(codes));
  } catch (error) {
    // storage blocked (private mode): the choice lasts as long as the URL carries it
  }
}
function languageBoxes(root) {
  return Array.from(root.querySelectorAll(".my-languages input[name=language]"));
}
// The search page's checkboxes show the stored choice (the index's languages only); they apply at once,
// so the no-JavaScript "Apply" button goes.
function showMyLanguages(root) {
  const chosen = myLanguages();
  const boxes = languageBoxes(root);
  if (chosen !== null) boxes.forEach((box) => { box.checked = chosen.includes(box.value); });
  const label = root.querySelector(".my-languages .chosen");
  if (label) label.textContent = boxes.filter((box) => box.checked).map((box) => box.value).join(", ") || "all";
  root.querySelectorAll(".my-languages .apply").forEach((button) => { button.hidden = true; });
}
showMyLanguages(document);
// `params` with the stored languages instead of the URL's (the ones the index has, on the search page).
function withMyLanguages(params) {
  let chosen = myLanguages();
  if (chosen === null) return params;
  const known = languageBoxes(document).map((box) => box.value);
  if (known.length) chosen = chosen.filter((code) => known.includes(code));
  params.delete("language");
  chosen.forEach((code) => params.append("language", code));
  return params;
}
// A search submitted from the box carries the languages: on the search page the checkboxes belong to the
// form already; on other pages hidden fields carry the stored choice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches || !form.matches("form.search")) return;
  form.querySelectorAll("input.my-language").forEach((input) => input.remove());
  const chosen = myLanguages();
  if (chosen === null || form.elements.namedItem("language")) return;
  chosen.forEach((code) => {
    const input = document.createElement("input");
    Object.assign(input, { type: "hidden", name: "language", value: code, className: "my-language" });
    form.appendChild(input);
  });
});

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
  // A checkbox under "My languages" is remembered and shows the results in the languages chosen now.
  document.addEventListener("change", (event) => {
    if (!event.target.matches(".my-languages input[name=language]")) return;
    rememberLanguages(languageBoxes(document).filter((input) => input.checked).map((input) => input.value));
    showMyLanguages(document);
    show(box.value.trim(), true);
  });
  async function show(query, languagesChanged = false) {
    if (!languagesChanged && (query === shown || (query.length > 0 && query.length < 2))) return;
    if (pending) pending.abort();
    pending = new AbortController();
    const rest = new URLSearchParams(location.search);
    ["q", "offset", "thanks"].forEach((name) => rest.delete(name));
    const params = new URLSearchParams(query ? { q: query } : {});
    withMyLanguages(rest).forEach((value, name) => params.append(name, value));
    const url = params.toString() ? "/?" + params.toString() : "/";
    try {
      const response = await fetch(url, { signal: pending.signal, headers: { "X-Casebook-Typing": "1" } });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const main = page.querySelector("main");
      if (!main) return;
      replaceMain(main);
      showMyLanguages(main);
      unfoldFiltersOnWideScreens(main);
      document.title = page.title;
      history.replaceState(null, "", url);
      shown = query;
    } catch (error) {
      // a stale request was cancelled, or the server is unreachable: Enter still submits the form
    }
  }
})();

// New results replace <main>, keeping "My languages" open when it was, and the focus on the checkbox that
// had it, so the next language is a Tab away.
function replaceMain(main) {
  const before = document.querySelector("main");
  const focused = document.activeElement;
  const language = focused && focused.matches(".my-languages input[name=language]") ? focused.value : null;
  const next = main.querySelector(".my-languages");
  if (next && before.querySelector(".my-languages[open]")) next.open = true;
  before.replaceWith(main);
  const box = language && languageBoxes(main).find((input) => input.value === language);
  if (box) box.focus();
}

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
