// runlab monitor: instant filtering of the run table, and live rows from /events (server-sent events).
"use strict";

(function () {
  const form = document.getElementById("filters");
  const body = document.querySelector("#runs tbody");
  if (!form || !body) return;  // not the run table page
  const count = document.getElementById("count");
  const live = document.getElementById("live");
  const FIELDS = ["study", "stage", "status"];

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
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });

  if (!window.EventSource) return;
  const source = new EventSource("/events?since=" + encodeURIComponent(live.dataset.seq));
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  source.addEventListener("run", (event) => { place(JSON.parse(event.data)); apply(); });
  source.addEventListener("gone", (event) => {
    const row = document.getElementById("run-" + JSON.parse(event.data).run_id);
    if (row) row.remove();
    apply();
  });
})();
