// runlab monitor: instant filtering and sorting of the run table, and live rows from /events (server-sent events).
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
  // Sorting: a header names its column (data-column) and has aria-sort while the rows are sorted by it; a row's
  // data-sort is a JSON array of its keys, one per header in order (null for none: last in either direction);
  // equal keys go by run id. The server sorts by the same keys the same way (runlab/monitor/order.py).
  const table = document.getElementById("runs");
  const headers = Array.from(table.querySelectorAll("thead th[data-column]"));
  const DEFAULT_ORDER = { column: table.dataset.defaultSort, descending: table.dataset.defaultOrder === "desc" };
  const sortedBy = headers.find((header) => header.hasAttribute("aria-sort"));
  let order = { column: sortedBy.dataset.column, descending: sortedBy.getAttribute("aria-sort") === "descending" };

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

  function afterClick(column) {  // what a click on a header asks for: the other direction, or a new column ascending
    return column === order.column ? { column, descending: !order.descending } : { column, descending: false };
  }

  function address(values, wanted) {  // the page's address for the filters `values` and the order `wanted`
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(values)) if (value) query.set(name, value);
    if (wanted.column !== DEFAULT_ORDER.column || wanted.descending !== DEFAULT_ORDER.descending) {
      query.set("sort", wanted.column);
      query.set("order", wanted.descending ? "desc" : "asc");
    }
    const search = query.toString();
    return search ? "?" + search : location.pathname;
  }

  function comparator() {  // rows in the current order, as a function for Array.prototype.sort
    const position = headers.findIndex((header) => header.dataset.column === order.column);
    const sign = order.descending ? -1 : 1;
    const keys = new Map();  // each row's key, parsed once per comparator
    const keyOf = (row) => {
      if (!keys.has(row)) keys.set(row, JSON.parse(row.dataset.sort || "[]")[position] ?? null);
      return keys.get(row);
    };
    return (a, b) => {
      const x = keyOf(a);
      const y = keyOf(b);
      if (x === null || y === null) {
        if (x !== y) return x === null ? 1 : -1;
      } else if (x !== y) {
        return (x < y ? -1 : 1) * sign;
      }
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    };
  }

  function sortRows() {
    const rows = Array.from(body.rows).sort(comparator());
    const fragment = document.createDocumentFragment();
    for (const row of rows) fragment.appendChild(row);
    body.appendChild(fragment);
    for (const header of headers) {
      if (header.dataset.column === order.column) {
        header.setAttribute("aria-sort", order.descending ? "descending" : "ascending");
      } else {
        header.removeAttribute("aria-sort");
      }
    }
  }

  function apply() {
    const values = chosen();
    let shown = 0;
    for (const row of body.rows) {
      row.hidden = !keeps(row, values);
      if (!row.hidden) shown += 1;
    }
    count.textContent = shown + " of " + body.rows.length + " runs";
    history.replaceState(null, "", address(values, order));
    for (const header of headers) header.querySelector("a").href = address(values, afterClick(header.dataset.column));
    form.elements.sort.value = order.column;
    form.elements.order.value = order.descending ? "desc" : "asc";
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
    if (old) old.remove();  // a changed row can move: its status, elapsed time or any key may differ now
    const before = comparator();
    const next = Array.from(body.rows).find((row) => before(fresh, row) < 0);
    body.insertBefore(fresh, next || null);
    for (const name of FIELDS) addChoice(name, data[name]);
    fresh.classList.add("changed");
    setTimeout(() => fresh.classList.remove("changed"), 2000);
  }

  for (const header of headers) {
    header.querySelector("a").addEventListener("click", (event) => {  // a link: Enter sorts from the keyboard too
      event.preventDefault();
      order = afterClick(header.dataset.column);
      sortRows();
      apply();
    });
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
