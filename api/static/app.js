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
