// runlab monitor: instant filtering of the run table, and live rows from /events (server-sent events).
"use strict";

// The badge's text when the stream drops: the browser reconnects by itself, unless the monitor refused the
// stream (a 503 at its limit of live streams), after which it never retries.
function offline(source) {
  return source.readyState === EventSource.CLOSED ? "live updates off: the monitor refused the stream; reload to retry"
    : "reconnecting…";
}

(function () {
  const form = document.getElementById("filters");
  const body = document.querySelector("#runs tbody");
  if (!form || !body) return;  // not the run table page
  const count = document.getElementById("count");
  const live = document.getElementById("live");
  const FIELDS = ["study", "stage", "status", "config"];

  function chosen() {
    const values = {};
    for (const name of FIELDS) values[name] = form.elements[name].value;
    values.q = form.elements.q.value.trim().toLowerCase();
    return values;
  }

  function keeps(row, values) {
    for (const name of FIELDS) {
      if (values[name] && row.dataset[name] !== values[name]) return false;
    }
    if (!values.q) return true;
    const text = row.textContent.toLowerCase();
    return values.q.split(/\s+/).every((word) => text.includes(word));
  }

  function apply() {
    const values = chosen();
    let shown = 0;
    for (const row of body.rows) {
      row.hidden = !keeps(row, values);
      if (!row.hidden) shown += 1;
    }
    count.textContent = shown + " of " + body.rows.length + " runs";
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(values)) if (value) query.set(name, value);
    const search = query.toString();
    history.replaceState(null, "", search ? "?" + search : location.pathname);
  }

  function addChoice(name, value) {
    const select = form.elements[name];
    if (!value || Array.from(select.options).some((option) => option.value === value)) return;
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    select.appendChild(option);
  }

  function rowFrom(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function place(data) {
    const fresh = rowFrom(data.html);
    const old = document.getElementById("run-" + data.run_id);
    if (old) {
      old.replaceWith(fresh);
    } else {
      const next = Array.from(body.rows).find((row) => row.id > fresh.id);
      body.insertBefore(fresh, next || null);
    }
    for (const name of FIELDS) addChoice(name, data[name]);
    fresh.classList.add("changed");
    setTimeout(() => fresh.classList.remove("changed"), 2000);
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);  // a menu changed by a script or an older browser fires only change
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });

  if (!window.EventSource) return;
  const source = new EventSource("/events?since=" + encodeURIComponent(live.dataset.seq));
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = offline(source); live.className = "live off"; });
  source.addEventListener("run", (event) => { place(JSON.parse(event.data)); apply(); });
  source.addEventListener("gone", (event) => {
    const row = document.getElementById("run-" + JSON.parse(event.data).run_id);
    if (row) row.remove();
    apply();
  });
})();

// A study page (runlab/monitor/studies.py): re-fetch its live part whenever one of its runs changes.
(function () {
  const part = document.getElementById("study-live");
  if (!part || !window.EventSource) return;
  const live = document.getElementById("live");
  let busy = false;
  let again = false;

  async function reload() {  // one fetch at a time; a change during a fetch fetches once more after it
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const response = await fetch(part.dataset.fragment, { cache: "no-store" });
        if (response.ok) part.innerHTML = await response.text();
      } while (again);
    } catch (error) {
      // the stream's reconnect (open) fetches again
    } finally {
      busy = false;
    }
  }

  const source = new EventSource("/events");
  source.addEventListener("open", () => {
    if (live) { live.textContent = "live"; live.className = "live on"; }
    reload();  // catch up on what changed before (or while) the stream was closed
  });
  source.addEventListener("error", () => {
    if (live) { live.textContent = offline(source); live.className = "live off"; }
  });
  source.addEventListener("run", (event) => {
    if (JSON.parse(event.data).study_href === part.dataset.studyHref) reload();
  });
})();
