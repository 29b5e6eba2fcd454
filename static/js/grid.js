// The reading grid's keyboard, viewer and save queue. Without this file the tiles are plain
// forms that post and come back to the grid.
//
// Every change is sent at once with htmx and the server's tile replaces the old one
// (data-saved="true"). Changes to one tile are sent one after another, each with its own
// idempotency key; a failed send is retried with the same key (the server applies it once).
// While later changes of a tile are still on their way, the tile keeps showing them (and
// data-saved="false"), so an earlier answer never shows an outdated verdict as saved.
(function () {
  "use strict";
  const reading = document.getElementById("reading");
  if (!reading || !window.htmx) return;
  const tilesBox = document.getElementById("tiles");
  const viewer = document.getElementById("viewer");
  const viewerBody = document.getElementById("viewer-body");
  const keysHelp = document.getElementById("keys");
  const COLUMNS = 6;
  const CYCLE = { "": "green", green: "orange", orange: "red", red: "" };
  const KEYS = { 1: "green", g: "green", 2: "orange", o: "orange", 3: "red", r: "red", 0: "", Backspace: "" };
  const queues = new Map(); // sample id -> Promise of the last send
  const waiting = new Map(); // sample id -> {count, verdict?, tags?, note?} of unsaved changes
  let current = 0;
  let viewerFor = null; // the tile whose image the viewer shows

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

  const currentTile = () => tiles()[current];
  const canMark = (tile) => !!tile.querySelector("button.v");

  // Show a tile as the reader wants it while its changes are on their way.
  function showWanted(tile, wanted) {
    if ("verdict" in wanted) {
      tile.dataset.verdict = wanted.verdict;
      tile.className = tile.className.replace(/verdict-\S+/, "verdict-" + (wanted.verdict || "none"));
      tile.querySelectorAll("button.v").forEach((button) => {
        if (button.value === wanted.verdict && wanted.verdict) button.setAttribute("aria-pressed", "true");
        else button.removeAttribute("aria-pressed");
      });
    }
    if ("tags" in wanted) {
      tile.querySelectorAll('input[name="tags"]').forEach((box) => {
        box.checked = wanted.tags.includes(box.value);
      });
    }
    if ("note" in wanted) {
      const note = tile.querySelector('input[name="note"]');
      if (note && document.activeElement !== note) note.value = wanted.note;
    }
    tile.dataset.saved = "false";
  }

  // Send one change of one tile; queued behind that tile's earlier changes.
  function send(sampleId, values) {
    const tile = tileById(sampleId);
    if (!tile || !canMark(tile)) return Promise.resolve();
    values.idempotency_key = newKey();
    const wanted = waiting.get(sampleId) || { count: 0 };
    wanted.count += 1;
    if ("verdict" in values) wanted.verdict = values.verdict;
    if ("tags" in values) wanted.tags = values.tags.slice();
    if ("note" in values) wanted.note = values.note;
    waiting.set(sampleId, wanted);
    showWanted(tile, wanted);
    const previous = queues.get(sampleId) || Promise.resolve();
    const next = previous.then(() => deliver(sampleId, values, 0));
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
          // Refused (closed audit, bad input): retrying cannot help; say so on the tile.
          now.classList.add("refused");
          now.dataset.error = "not saved: " + String(detail.xhr.responseText || status).slice(0, 80);
          settle(sampleId);
          return;
        }
        now.classList.add("failed");
        now.dataset.saved = "false";
        const wait = Math.min(15000, 1000 * 2 ** attempt);
        return new Promise((resolve) => setTimeout(resolve, wait)).then(() => deliver(sampleId, values, attempt + 1));
      });
  }

  function settle(sampleId) {
    const wanted = waiting.get(sampleId);
    if (!wanted) return;
    wanted.count -= 1;
    if (wanted.count <= 0) waiting.delete(sampleId);
    return wanted.count > 0 ? wanted : null;
  }

  function afterSaved(sampleId) {
    const tile = tileById(sampleId);
    const still = settle(sampleId);
    if (still) showWanted(tile, still);
    const index = tiles().indexOf(tile);
    if (index === current) {
      tile.classList.add("current");
      const focused = document.activeElement;
      if (!viewer.open && (!focused || focused === document.body)) tile.focus({ preventScroll: true });
    }
    if (viewerFor && viewerFor.dataset.sampleId === String(sampleId)) viewerFor = tile;
    document.getElementById("marked-count").textContent = tiles().filter((t) => t.dataset.verdict).length;
  }

  function setVerdict(tile, verdict) {
    return send(tile.dataset.sampleId, { verdict });
  }

  function sendTags(tile) {
    const tags = Array.from(tile.querySelectorAll('input[name="tags"]:checked')).map((box) => box.value);
    return send(tile.dataset.sampleId, { tags, tags_sent: "1" });
  }

  function toggleTag(tile, shortcut) {
    const box = Array.from(tile.querySelectorAll('input[name="tags"]')).find(
      (input) => input.dataset.shortcut && input.dataset.shortcut.toLowerCase() === shortcut.toLowerCase()
    );
    if (!box || box.disabled) return false;
    box.checked = !box.checked;
    sendTags(tile);
    return true;
  }

  // The viewer: the imaging fragment (window/level, zoom) fetched into the dialog with htmx;
  // viewer.js sets itself up on htmx:afterSwap. Without it, the tile's thumbnail.
  function openViewer(tile) {
    viewerFor = tile;
    const url = tile.dataset.viewerUrl;
    if (url) {
      viewerBody.replaceChildren();
      viewerBody.setAttribute("aria-busy", "true");
      htmx
        .ajax("GET", url, { target: "#viewer-body", swap: "innerHTML" })
        .finally(() => viewerBody.removeAttribute("aria-busy"));
    } else {
      const key = tile.querySelector(".tile-key").textContent;
      const heading = document.createElement("h2");
      heading.className = "viewer-key";
      heading.textContent = key;
      const image = document.createElement("img");
      image.src = tile.dataset.thumbnailUrl;
      image.alt = key;
      viewerBody.replaceChildren(heading, image);
    }
    viewer.showModal();
  }

  viewer.addEventListener("close", () => {
    viewerBody.replaceChildren();
    viewerFor = null;
    focusTile(current);
  });
  keysHelp.addEventListener("close", () => focusTile(current));

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
      .forEach((tile) => showWanted(tile, { verdict: "green" }));
    allSaved().then(() =>
      htmx
        .ajax("POST", form.action, {
          source: form,
          target: "#tiles",
          select: "#tiles",
          swap: "outerHTML",
          values: { idempotency_key: newKey() },
        })
        .then(() => {
          focusTile(current);
          document.getElementById("marked-count").textContent = tiles().filter((t) => t.dataset.verdict).length;
        })
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
      const tile = open.closest(".tile");
      focusTile(tiles().indexOf(tile));
      openViewer(tile);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    // A dialog is open: grid keys do nothing (the viewer handles its own keys first).
    if (viewer.open) {
      const onControl = event.target.closest && event.target.closest("button, a, input, select, textarea");
      if ((key === "Enter" || key === " ") && !onControl) {
        viewer.close();
        event.preventDefault();
      }
      return;
    }
    if (keysHelp.open) {
      if (key === "?") {
        keysHelp.close();
        event.preventDefault();
      }
      return;
    }
    if (event.target.matches && event.target.matches("input[type=text], textarea")) {
      if (key === "Escape") event.target.blur();
      return;
    }
    const tile = currentTile();
    let handled = true;
    if (key === "?") {
      keysHelp.showModal();
    } else if (key === "G" && event.shiftKey) {
      allGreen();
    } else if (key === "ArrowLeft" || key === "h") {
      focusTile(current - 1);
    } else if (key === "ArrowRight" || key === "l") {
      focusTile(current + 1);
    } else if (key === "ArrowUp" || key === "k") {
      focusTile(current - COLUMNS);
    } else if (key === "ArrowDown" || key === "j") {
      focusTile(current + COLUMNS);
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
    if (waiting.size > 0) event.preventDefault();
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
