// The reading grid's keyboard and save queue. Without this file the tiles are plain forms.
//
// Every change is sent at once with htmx and the server's tile replaces the old one
// (data-saved="true"). Changes to one tile are sent one after another, each with its own
// idempotency key; a failed send is retried with the same key (the server applies it once).
(function () {
  "use strict";
  const reading = document.getElementById("reading");
  if (!reading || !window.htmx) return;
  const tilesBox = document.getElementById("tiles");
  const viewer = document.getElementById("viewer");
  const keysHelp = document.getElementById("keys");
  const CYCLE = { "": "green", green: "orange", orange: "red", red: "" };
  const KEYS = { 1: "green", g: "green", 2: "orange", o: "orange", 3: "red", r: "red", 0: "", Backspace: "" };
  const queues = new Map(); // sample id -> Promise of the last send
  let pending = 0;
  let current = 0;

  const tiles = () => Array.from(tilesBox.querySelectorAll(".tile"));
  const tileById = (id) => document.getElementById("tile-" + id);
  const newKey = () =>
    window.crypto && crypto.randomUUID
      ? crypto.randomUUID()
      : Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);

  function focusTile(index) {
    const all = tiles();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((tile, i) => tile.classList.toggle("current", i === current));
    all[current].focus({ preventScroll: true });
  }

  function currentTile() {
    return tiles()[current];
  }

  function canMark(tile) {
    return !!tile.querySelector("button.v");
  }

  function showPending(tile, verdict) {
    if (verdict !== undefined) {
      tile.dataset.verdict = verdict;
      tile.className = tile.className.replace(/verdict-\S+/, "verdict-" + (verdict || "none"));
    }
    tile.dataset.saved = "false";
  }

  // Send one change of one tile; queued behind that tile's earlier changes.
  function send(sampleId, values, verdict) {
    const tile = tileById(sampleId);
    if (!tile || !canMark(tile)) return;
    values.idempotency_key = newKey();
    showPending(tile, verdict);
    pending += 1;
    const previous = queues.get(sampleId) || Promise.resolve();
    const next = previous.then(() => deliver(sampleId, values, 0)).finally(() => {
      pending -= 1;
    });
    queues.set(sampleId, next);
    return next;
  }

  function deliver(sampleId, values, attempt) {
    const tile = tileById(sampleId);
    let outcome = null;
    const onAfter = (event) => {
      outcome = event.detail;
    };
    tile.addEventListener("htmx:afterRequest", onAfter, { once: true });
    return htmx
      .ajax("POST", tile.dataset.markUrl, { source: tile, target: "#tile-" + sampleId, swap: "outerHTML", values })
      .then(
        () => outcome,
        () => null
      )
      .then((detail) => {
        const status = detail && detail.xhr ? detail.xhr.status : 0;
        if (detail && detail.successful) {
          afterSaved(sampleId);
          return;
        }
        const now = tileById(sampleId);
        if (status >= 400 && status < 500) {
          now.classList.add("refused");
          now.dataset.error = "not saved: " + (detail.xhr.responseText || status).slice(0, 80);
          return;
        }
        now.classList.add("failed");
        now.dataset.saved = "false";
        const wait = Math.min(15000, 1000 * 2 ** attempt);
        return new Promise((resolve) => setTimeout(resolve, wait)).then(() =>
          deliver(sampleId, values, attempt + 1)
        );
      });
  }

  function afterSaved(sampleId) {
    const tile = tileById(sampleId);
    const index = tiles().indexOf(tile);
    if (index === current && (document.activeElement === document.body || !document.activeElement)) {
      focusTile(index);
    } else if (index === current) {
      tile.classList.add("current");
    }
    document.getElementById("marked-count").textContent = tiles().filter((t) => t.dataset.verdict).length;
  }

  function setVerdict(tile, verdict) {
    send(tile.dataset.sampleId, { verdict }, verdict);
  }

  function sendTags(tile) {
    const tags = Array.from(tile.querySelectorAll('input[name="tags"]:checked')).map((box) => box.value);
    send(tile.dataset.sampleId, { tags, tags_sent: "1" });
  }

  function toggleTag(tile, shortcut) {
    const box = tile.querySelector('input[name="tags"][data-shortcut="' + CSS.escape(shortcut) + '"]');
    if (!box || box.disabled) return false;
    box.checked = !box.checked;
    sendTags(tile);
    return true;
  }

  function openViewer(tile) {
    const body = document.getElementById("viewer-body");
    const image = document.createElement("img");
    image.src = tile.dataset.viewerUrl;
    image.alt = tile.querySelector(".tile-key").textContent;
    body.replaceChildren(image);
    viewer.showModal();
  }

  function allSaved() {
    return Promise.all(Array.from(queues.values()));
  }

  function go(link) {
    if (link) allSaved().then(() => (window.location.href = link.href));
  }

  function allGreen() {
    const form = document.getElementById("all-green");
    if (!form) return;
    tiles()
      .filter((tile) => !tile.dataset.verdict)
      .forEach((tile) => showPending(tile, "green"));
    allSaved().then(() =>
      htmx
        .ajax("POST", form.action, {
          source: form,
          target: "#tiles",
          select: "#tiles",
          swap: "outerHTML",
          values: { idempotency_key: newKey() },
        })
        .then(() => focusTile(current))
    );
  }

  // Mouse: the forms' buttons, the tag boxes and the note field, sent through the queue.
  reading.addEventListener("submit", (event) => {
    const form = event.target;
    const tile = form.closest(".tile");
    if (!tile) {
      if (form.id === "all-green") {
        event.preventDefault();
        allGreen();
      }
      return;
    }
    event.preventDefault();
    const button = event.submitter;
    focusTile(tiles().indexOf(tile));
    if (button && button.name === "verdict") {
      const verdict = button.classList.contains("tile-image") ? CYCLE[tile.dataset.verdict || ""] : button.value;
      setVerdict(tile, verdict);
    } else {
      const note = tile.querySelector('input[name="note"]');
      send(tile.dataset.sampleId, { note: note.value });
    }
  });
  reading.addEventListener("change", (event) => {
    const tile = event.target.closest(".tile");
    if (!tile) return;
    if (event.target.name === "tags") sendTags(tile);
    if (event.target.name === "note") send(tile.dataset.sampleId, { note: event.target.value });
  });
  reading.addEventListener("click", (event) => {
    const open = event.target.closest("a.open");
    if (open) {
      event.preventDefault();
      openViewer(open.closest(".tile"));
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.target.matches && event.target.matches("input[type=text], textarea")) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tile = currentTile();
    const key = event.key;
    let handled = true;
    if (key === "?") {
      keysHelp.open ? keysHelp.close() : keysHelp.showModal();
    } else if (viewer.open && (key === "Enter" || key === " ")) {
      viewer.close();
    } else if (key === "G" && event.shiftKey) {
      allGreen();
    } else if (key === "ArrowLeft" || key === "h") {
      focusTile(current - 1);
    } else if (key === "ArrowRight" || key === "l") {
      focusTile(current + 1);
    } else if (key === "ArrowUp" || key === "k") {
      focusTile(current - 6);
    } else if (key === "ArrowDown" || key === "j") {
      focusTile(current + 6);
    } else if (key in KEYS && tile) {
      setVerdict(tile, KEYS[key]);
    } else if ((key === "Enter" || key === " ") && tile) {
      openViewer(tile);
    } else if (key === "n") {
      go(document.getElementById("grid-next"));
    } else if (key === "p") {
      go(document.getElementById("grid-previous"));
    } else if (!(tile && key.length === 1 && toggleTag(tile, key))) {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.getElementById("show-keys").addEventListener("click", () => keysHelp.showModal());

  window.addEventListener("beforeunload", (event) => {
    if (pending > 0) event.preventDefault();
  });

  // Time on this grid: reported when the page is hidden or left.
  let shownSince = document.visibilityState === "visible" ? Date.now() : null;
  function reportTime() {
    if (shownSince === null) return;
    const seconds = (Date.now() - shownSince) / 1000;
    shownSince = null;
    const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    const data = new FormData();
    data.append("seconds", seconds.toFixed(1));
    data.append("csrfmiddlewaretoken", token || "");
    navigator.sendBeacon(reading.dataset.timeUrl, data);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") reportTime();
    else shownSince = Date.now();
  });
  window.addEventListener("pagehide", reportTime);

  focusTile(0);
})();
