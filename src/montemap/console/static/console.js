// montemap console: keeps pages live by polling /console/api/... (no libraries).
// Every value from the server is put in the page with textContent, never as HTML.
"use strict";
(function () {
  const FAST = 1000;
  const SLOW = 5000;
  const REDRIVE_WATCH = 2000;  // an ended execution that can be redriven is watched for one
  const main = document.querySelector("main");
  if (!main) return;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function link(path, arn, text) {
    const a = el("a", text);
    a.href = "/console/" + path + "?arn=" + encodeURIComponent(arn);
    return a;
  }
  function badge(status) {
    return el("span", status, "status status-" + status);
  }
  function duration(s) {
    if (s === null || s === undefined) return "";
    if (s < 10) return s.toFixed(2) + " s";
    if (s < 60) return s.toFixed(1) + " s";
    const total = Math.round(s), m = Math.floor(total / 60), sec = total % 60;
    if (m < 60) return m + " min " + String(sec).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }
  function n(value) {
    return typeof value === "number" ? value.toLocaleString("en-US") : String(value);
  }
  function pretty(text) {
    if (text === null || text === undefined) return "";
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return String(text); }
  }
  // A label that shows `text` (a string, or a function making it) when clicked. Not a
  // <details>: tens of thousands of those (a long history) take the browser minutes to lay out.
  function collapsible(label, text) {
    const box = el("div", null, "collapsible");
    const button = el("button", label, "toggle");
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", function () {
      let pre = box.querySelector("pre");
      if (!pre) {
        pre = el("pre", typeof text === "function" ? text() : text);
        box.appendChild(pre);
      } else {
        pre.hidden = !pre.hidden;
      }
      button.setAttribute("aria-expanded", String(!pre.hidden));
    });
    box.appendChild(button);
    return box;
  }
  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error("HTTP " + r.status + " for " + url);
    return r.json();
  }
  // Call step() now and again after its returned delay (ms); stop when it returns null.
  function poll(step) {
    async function tick() {
      let delay = SLOW;
      try { delay = await step(); } catch (e) { console.warn(e); }
      if (delay === null) return;
      setTimeout(tick, document.hidden ? Math.max(delay, SLOW) : delay);
    }
    tick();
  }
  function byData(attr, value) {
    for (const node of document.querySelectorAll("[" + attr + "]")) {
      if (node.getAttribute(attr) === value) return node;
    }
    return null;
  }

  // ------------------------------------------------------------------ execution
  function executionPage() {
    const arn = main.dataset.arn;
    const start = Date.parse(main.dataset.start);
    const statesBody = document.querySelector("#states tbody");
    const eventsBody = document.querySelector("#events tbody");
    // New rows go into fragments, put in the tables once a poll: a table laid out
    // again for every 500 events made a 25,000-event history take minutes.
    let newStates = document.createDocumentFragment();
    let newEvents = document.createDocumentFragment();
    const owner = new Map();      // event id -> states-table row record
    const open = new Map();       // state name -> stack of open row records
    let after = 0;
    let running = main.dataset.status === "RUNNING";
    let redrives = Number(main.dataset.redriveCount || 0);

    function stateRow(ev, d) {
      const rec = { name: d.name, start: ev.timestamp, failed: false };
      const tr = el("tr");
      tr.appendChild(el("td", d.name));
      tr.appendChild(el("td", ev.type.replace(/StateEntered$/, "")));
      rec.status = el("td"); rec.status.appendChild(badge("running")); tr.appendChild(rec.status);
      tr.appendChild(el("td", new Date(ev.timestamp * 1000).toISOString(), "time"));
      rec.duration = el("td", "", "num"); tr.appendChild(rec.duration);
      const input = el("td"); input.appendChild(collapsible("input", () => pretty(d.input))); tr.appendChild(input);
      rec.output = el("td"); tr.appendChild(rec.output);
      newStates.appendChild(tr);
      return rec;
    }
    function addEvent(ev) {
      const key = Object.keys(ev).find((k) => k.endsWith("EventDetails"));
      const d = key ? ev[key] : null;
      const tr = el("tr");
      tr.appendChild(el("td", ev.id, "num"));
      tr.appendChild(el("td", ev.type));
      tr.appendChild(el("td", d && d.name !== undefined ? d.name : ""));
      tr.appendChild(el("td", Math.round(ev.timestamp * 1000 - start) + " ms", "num"));
      const cell = el("td");
      if (d) cell.appendChild(collapsible("details", () => JSON.stringify(d, null, 2)));
      tr.appendChild(cell);
      newEvents.appendChild(tr);

      if (ev.type.endsWith("StateEntered") && d) {
        const rec = stateRow(ev, d);
        owner.set(ev.id, rec);
        if (!open.has(d.name)) open.set(d.name, []);
        open.get(d.name).push(rec);
      } else if (ev.type.endsWith("StateExited") && d) {
        const rec = (open.get(d.name) || []).pop();
        if (rec) {
          rec.duration.textContent = duration(ev.timestamp - rec.start);
          rec.output.appendChild(collapsible("output", () => pretty(d.output)));
          rec.status.replaceChildren(badge(rec.failed ? "caught" : "succeeded"));
        }
      } else if (ev.type === "ExecutionRedriven") {  // the failed states run again
        for (const stack of open.values()) {
          for (const rec of stack) rec.failed = false;
        }
      } else if (!ev.type.startsWith("MapIteration") && !ev.type.startsWith("Execution")) {
        const rec = owner.get(ev.previousEventId);
        if (rec) {  // caught: exited right after a failure (a Retry schedules it again)
          owner.set(ev.id, rec);
          rec.failed = /(Failed|TimedOut)$/.test(ev.type);
        }
      }
    }
    function paintGraph(states) {
      for (const g of document.querySelectorAll("svg.graph g.state")) {
        const s = states[g.getAttribute("data-state")];
        g.classList.forEach((c) => { if (c.startsWith("status-")) g.classList.remove(c); });
        const count = g.querySelector("text.count");
        if (!s) { if (count) count.textContent = ""; continue; }
        g.classList.add("status-" + s.status);
        if (count) count.textContent = s.entered > 1 ? s.exited + " / " + s.entered + " done" : "";
      }
    }
    function paintMapRuns(runs) {
      const body = document.querySelector("#map-runs tbody");
      if (!runs.length) return;
      for (const r of runs) {  // the Distributed Map's box shows its latest run
        const label = r.label.slice(r.label.indexOf("/") + 1);
        const g = byData("data-map-run", label);
        const count = g && g.querySelector("text.count");
        if (count) count.textContent = n(r.items.succeeded) + " / " + n(r.items.total) + " items";
      }
      body.replaceChildren();
      for (const r of runs) {
        const tr = el("tr");
        const name = el("td"); name.appendChild(link("map-run", r.arn, r.label)); tr.appendChild(name);
        const st = el("td"); st.appendChild(badge(r.status)); tr.appendChild(st);
        const i = r.items;
        tr.appendChild(el("td", n(i.succeeded) + " ok, " + n(i.failed + i.timedOut + i.aborted) + " failed, " +
          n(i.running) + " running of " + n(i.total), "num"));
        const bar = el("progress"); bar.max = Math.max(1, i.total); bar.value = i.succeeded;
        const cell = el("td"); cell.appendChild(bar); tr.appendChild(cell);
        body.appendChild(tr);
      }
    }
    function paintStatus(status) {
      const badgeNode = document.getElementById("ex-status");
      badgeNode.textContent = status;
      badgeNode.className = "status status-" + status;
    }
    function paintHeader(ex) {
      paintStatus(ex.status);
      document.getElementById("ex-stop").textContent = ex.stopDate || "–";
      document.getElementById("ex-duration").textContent = duration(ex.durationS);
      if (ex.error || ex.cause) {
        document.getElementById("ex-failure").hidden = false;
        document.getElementById("ex-error").textContent = ex.error || "";
        document.getElementById("ex-cause").textContent = ex.cause || "";
      }
      if (ex.output !== undefined && ex.output !== null) {
        document.getElementById("ex-output").textContent = pretty(ex.output);
      }
    }
    async function loadResults() {
      // A server-rendered (escaped) fragment: the results panel.
      const r = await fetch("/console/execution/results?arn=" + encodeURIComponent(arn),
        { credentials: "same-origin" });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      document.getElementById("results").replaceChildren(...doc.body.childNodes);
    }
    let ticking = false;
    function tickDuration() {
      ticking = running;
      if (!running) return;
      document.getElementById("ex-duration").textContent = duration((Date.now() - start) / 1000);
      setTimeout(tickDuration, 1000);
    }
    tickDuration();
    function redrivable(ex) {
      return ex.redriveStatus === "REDRIVABLE" || ex.redriveStatus === "REDRIVABLE_BY_MAP_RUN";
    }
    function resumeAfterRedrive() {  // the ended execution runs again: its end is undone
      document.getElementById("ex-failure").hidden = true;
      document.getElementById("ex-error").textContent = "";
      document.getElementById("ex-cause").textContent = "";
      document.getElementById("ex-stop").textContent = "–";
      document.getElementById("ex-output").textContent = "";
      for (const stack of open.values()) {
        for (const rec of stack) rec.status.replaceChildren(badge("running"));
      }
      const stop = document.getElementById("stop-form");
      if (stop) stop.hidden = false;
    }
    async function fetchNew() {  // every event after `after`, in pages of 500
      const events = [];
      let data;
      do {
        data = await getJSON("/console/api/execution?arn=" + encodeURIComponent(arn) + "&after=" + after);
        for (const ev of data.events) { events.push(ev); after = ev.id; }
      } while (data.more && data.events.length);
      data.events = events;
      return data;
    }
    poll(async function () {
      const data = await fetchNew();
      for (const ev of data.events) addEvent(ev);
      statesBody.appendChild(newStates);
      eventsBody.appendChild(newEvents);
      newStates = document.createDocumentFragment();
      newEvents = document.createDocumentFragment();
      paintGraph(data.states);
      paintMapRuns(data.mapRuns);
      const redriven = (data.execution.redriveCount || 0) > redrives;
      if (redriven) {
        redrives = data.execution.redriveCount;
        resumeAfterRedrive();
      }
      const wasRunning = running || redriven;
      running = data.execution.status === "RUNNING";
      if (running) {
        paintStatus(data.execution.status);
        if (!ticking) tickDuration();
      } else {
        paintHeader(data.execution);
        const ending = data.execution.status.toLowerCase();
        for (const stack of open.values()) {
          for (const rec of stack) rec.status.replaceChildren(badge(ending === "succeeded" ? "succeeded" : ending));
        }
      }
      if (running) return FAST;
      const again = redrivable(data.execution);
      if (wasRunning) {
        const stop = document.getElementById("stop-form");
        if (stop && again) stop.hidden = true;  // shown again by a redrive
        else if (stop) stop.remove();
        await loadResults();
        return FAST; // one more pass picks up the last events
      }
      return again ? REDRIVE_WATCH : null;  // a redrive runs it again: keep watching
    });
  }

  // ------------------------------------------------------------------ map run
  function mapRunPage() {
    const arn = main.dataset.arn;
    poll(async function () {
      const r = await getJSON("/console/api/map-run?arn=" + encodeURIComponent(arn));
      const st = document.getElementById("run-status");
      st.textContent = r.status; st.className = "status status-" + r.status;
      document.getElementById("run-stop").textContent = r.stopDate || "–";
      document.getElementById("run-duration").textContent = duration(r.durationS);
      document.getElementById("items-rate").textContent = r.itemsPerSecond;
      document.getElementById("batches-rate").textContent = r.batchesPerSecond;
      for (const kind of ["items", "batches"]) {
        for (const [key, value] of Object.entries(r[kind])) {
          const cell = byData("data-count", kind + "." + key);
          if (cell) cell.textContent = n(value);
        }
        const bar = byData("data-progress", kind);
        if (bar) { bar.max = Math.max(1, r[kind].total); bar.value = r[kind].succeeded; }
      }
      const body = document.querySelector("#failures tbody");
      body.replaceChildren();
      for (const f of r.failures) {
        const tr = el("tr");
        const name = el("td"); name.appendChild(link("execution", f.arn, f.name)); tr.appendChild(name);
        const s = el("td"); s.appendChild(badge(f.status)); tr.appendChild(s);
        const e = el("td"); e.appendChild(el("code", f.error || "")); tr.appendChild(e);
        const c = el("td"); c.appendChild(el("pre", f.cause || "")); tr.appendChild(c);
        const i = el("td"); i.appendChild(collapsible("input", pretty(f.input))); tr.appendChild(i);
        body.appendChild(tr);
      }
      if (!r.failures.length) {
        const tr = el("tr", null, "empty"); const td = el("td", "No failed batches."); td.colSpan = 5;
        tr.appendChild(td); body.appendChild(tr);
      }
      if (r.status === "RUNNING") return FAST;
      return r.redrivable ? REDRIVE_WATCH : null;  // a redrive of its execution runs it again
    });
  }

  // ------------------------------------------------------------------ services
  function servicesPage() {
    poll(async function () {
      const view = await getJSON("/console/api/services");
      for (const cluster of view.clusters) {
        for (const s of cluster.services) {
          const card = byData("data-service", cluster.name + "/" + s.name);
          if (!card) continue;
          for (const field of ["status", "taskDefinition", "desiredCount", "runningCount", "pendingCount"]) {
            const node = card.querySelector("[data-field=" + field + "]");
            if (node) node.textContent = s[field];
          }
          const body = card.querySelector("table.deployments tbody");
          body.replaceChildren();
          for (const d of s.deployments) {
            const tr = el("tr");
            for (const v of [d.status, d.taskDefinition, d.desiredCount, d.runningCount, d.pendingCount, d.failedTasks, d.rolloutState || ""]) {
              tr.appendChild(el("td", v));
            }
            body.appendChild(tr);
          }
          const list = card.querySelector("ul.events");
          list.replaceChildren();
          for (const e of s.events) {
            const li = el("li"); li.appendChild(el("span", e.createdAt, "time"));
            li.appendChild(document.createTextNode(" " + e.message)); list.appendChild(li);
          }
        }
      }
      return 2 * FAST;
    });
  }

  // ------------------------------------------------------------------ execution lists
  function listPage() {
    const table = document.getElementById("executions");
    if (!table || table.dataset.live !== "1") return;
    const showMachine = table.dataset.machine === "1";
    const query = "arn=" + encodeURIComponent(table.dataset.arn) + "&status=" + encodeURIComponent(table.dataset.status);
    poll(async function () {
      const data = await getJSON("/console/api/executions?" + query);
      const body = table.querySelector("tbody");
      if (!data.executions.length) return SLOW;
      body.replaceChildren();
      for (const ex of data.executions) {
        const tr = el("tr");
        const name = el("td"); name.appendChild(link("execution", ex.arn, ex.name)); tr.appendChild(name);
        if (showMachine) {
          const m = el("td"); m.appendChild(link("state-machine", ex.stateMachineArn, ex.stateMachineName)); tr.appendChild(m);
        }
        const st = el("td"); st.appendChild(badge(ex.status)); tr.appendChild(st);
        tr.appendChild(el("td", ex.startDate, "time"));
        tr.appendChild(el("td", ex.stopDate || "", "time"));
        tr.appendChild(el("td", duration(ex.durationS), "num"));
        body.appendChild(tr);
      }
      return data.executions.some((ex) => ex.status === "RUNNING") ? FAST : SLOW;
    });
  }

  const pages = { execution: executionPage, "map-run": mapRunPage, services: servicesPage, list: listPage };
  const page = pages[main.dataset.page];
  if (page) page();
})();
