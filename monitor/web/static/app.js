// news-monitor: a few lines on top of pages that work without them.
// New hits appear without reloading; the playground lints as you type; "Copy as YAML".
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  // -- Hits: ask every few seconds for the hits newer than the newest shown ------------------
  const list = document.getElementById("hits");
  if (list && list.dataset.live === "yes") {
    const status = document.getElementById("live");
    let fresh = 0;
    const poll = async () => {
      const params = new URLSearchParams(window.location.search);
      params.set("fragment", "new");
      params.set("after", list.dataset.newest || "0");
      try {
        const answer = await fetch("/?" + params.toString(), { credentials: "same-origin" });
        if (answer.ok) {
          const newest = answer.headers.get("x-newest-id");
          const template = document.createElement("template");
          template.innerHTML = await answer.text();
          const items = template.content.querySelectorAll("li.hit");
          if (items.length) {
            list.prepend(...items);
            fresh += items.length;
            document.getElementById("empty")?.remove();
            status.textContent = fresh + " new hit" + (fresh === 1 ? "" : "s") + " since you opened the page";
            status.hidden = false;
          }
          if (newest) list.dataset.newest = newest;
        }
      } catch (error) {
        // the daemon restarting: try again at the next tick
      }
    };
    window.setInterval(poll, Number(list.dataset.interval || 3000));
  }

  // -- Playground: parse and lint the query as it is typed ------------------------------------
  const form = document.getElementById("playground");
  const lint = document.getElementById("lint");
  if (form && lint) {
    let timer = 0;
    const check = async () => {
      const data = new FormData(form);
      const params = new URLSearchParams();
      for (const name of ["query", "languages", "min_mentions"]) params.set(name, data.get(name) || "");
      for (const name of ["lemmas", "in_title"]) params.set(name, data.get(name) ? "true" : "false");
      if (!params.get("query").trim()) { lint.replaceChildren(); return; }
      try {
        const answer = await fetch("/api/v1/rules/check?" + params.toString(), {
          credentials: "same-origin", headers: { "x-csrf-token": csrf } });
        const result = await answer.json();
        const out = [];
        for (const problem of result.problems || []) {
          const line = document.createElement("pre");
          line.className = problem.warning ? "warning" : "error";
          line.textContent = problem.message;
          out.push(line);
        }
        if (answer.ok && result.ok) {
          const outline = document.createElement("pre");
          outline.className = "outline";
          outline.textContent = "✓ " + result.outline.join("\n  ");
          out.push(outline);
        } else if (!answer.ok && result.error) {
          const line = document.createElement("pre");
          line.className = "error";
          line.textContent = result.error;
          out.push(line);
        }
        lint.replaceChildren(...out);
      } catch (error) {
        lint.replaceChildren();
      }
    };
    form.addEventListener("input", (event) => {
      if (!["query", "languages", "min_mentions", "lemmas", "in_title"].includes(event.target.name)) return;
      window.clearTimeout(timer);
      timer = window.setTimeout(check, 250);
    });
    if (form.elements.query.value.trim()) check();
  }

  // -- "Copy as YAML" ------------------------------------------------------------------------
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy)?.textContent || "";
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (error) {
        window.getSelection()?.selectAllChildren(document.getElementById(button.dataset.copy));
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }
})();
