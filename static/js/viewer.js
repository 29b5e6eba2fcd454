/* The image viewer: zoom and pan in the browser; window/level rendered by the server from the
   full bit depth (cached there), with an instant SVG-filter preview while dragging.
   Self-initialising: on page load and after every htmx swap, on each new .viewer-stage. */
(function () {
  "use strict";

  const ZOOM_STEP = 1.25;
  const MAX_ZOOM = 16; // times the fit size
  const REQUEST_DELAY = 150; // ms of stillness before asking the server for a window

  function number(value) {
    const parsed = parseFloat(value);
    return Number.isFinite(parsed) ? parsed : null;
  }

  function setup(stage) {
    if (stage.dataset.ready) return;
    stage.dataset.ready = "1";
    const canvas = stage.querySelector(".viewer-canvas");
    const image = stage.querySelector(".viewer-image");
    if (!canvas || !image) return;
    const readout = stage.querySelector(".viewer-window");
    const presetButtons = Array.from(stage.querySelectorAll("[data-preset]"));
    const filter = stage.querySelector("filter");
    const funcs = filter ? Array.from(filter.querySelectorAll("feFuncR, feFuncG, feFuncB")) : [];
    const natural = { w: number(stage.dataset.width) || 1, h: number(stage.dataset.height) || 1 };
    const low = number(stage.dataset.rangeLow) ?? 0;
    const high = number(stage.dataset.rangeHigh) ?? 255;
    const span = Math.max(high - low, 1);

    const view = { scale: 1, fit: 1, x: 0, y: 0 };
    // The window on screen (what the server rendered) and the one asked for.
    let shown = null; // {center, width} or null for the file's default
    let wanted = null;
    let preset = "default";
    let usingOriginal = false;
    let timer = null;

    function initialWindow() {
      const button = presetButtons.find((b) => b.dataset.preset === "default");
      const center = button ? number(button.dataset.center) : null;
      const width = button ? number(button.dataset.width) : null;
      return center !== null && width !== null ? { center, width } : { center: (low + high) / 2, width: span };
    }
    let base = initialWindow(); // reference for the live preview when shown is null

    function layout() {
      const box = canvas.getBoundingClientRect();
      view.fit = Math.min(box.width / natural.w, box.height / natural.h) || 1;
      image.style.width = natural.w * view.fit + "px";
      image.style.height = natural.h * view.fit + "px";
    }

    function clampPan() {
      const box = canvas.getBoundingClientRect();
      const w = natural.w * view.fit * view.scale;
      const h = natural.h * view.fit * view.scale;
      const maxX = Math.max(0, (w - box.width) / 2);
      const maxY = Math.max(0, (h - box.height) / 2);
      view.x = Math.min(maxX, Math.max(-maxX, view.x));
      view.y = Math.min(maxY, Math.max(-maxY, view.y));
    }

    function apply() {
      clampPan();
      image.style.transform = `translate(-50%, -50%) translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
      stage.dataset.zoom = view.scale.toFixed(3);
      // Past the viewer rendition's own pixels, switch to the original resolution.
      const screenPixels = natural.w * view.fit * view.scale * (window.devicePixelRatio || 1);
      const renditionPixels = Math.min(natural.w, (1024 * natural.w) / Math.max(natural.w, natural.h));
      const reduced = Math.max(natural.w, natural.h) > 1024; // else the viewer image is the original
      if (!usingOriginal && reduced && screenPixels > renditionPixels * 1.1) {
        usingOriginal = true;
        request(true);
      }
    }

    function zoomAt(factor, clientX, clientY) {
      const box = canvas.getBoundingClientRect();
      const next = Math.min(MAX_ZOOM, Math.max(1, view.scale * factor));
      const cx = (clientX ?? box.left + box.width / 2) - (box.left + box.width / 2);
      const cy = (clientY ?? box.top + box.height / 2) - (box.top + box.height / 2);
      // keep the point under the cursor where it is
      view.x = cx - ((cx - view.x) * next) / view.scale;
      view.y = cy - ((cy - view.y) * next) / view.scale;
      view.scale = next;
      apply();
    }

    function zoom(kind) {
      if (kind === "in") zoomAt(ZOOM_STEP);
      else if (kind === "out") zoomAt(1 / ZOOM_STEP);
      else if (kind === "fit") {
        view.scale = 1;
        view.x = view.y = 0;
        apply();
      } else if (kind === "actual") {
        view.scale = Math.max(1, 1 / (view.fit * (window.devicePixelRatio || 1)));
        apply();
      }
    }

    function describe(win) {
      const w = win || base;
      const round = (v) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10);
      return `${preset === "custom" ? "custom" : preset} · W ${round(w.width)} L ${round(w.center)}`;
    }

    function renderUrl(original) {
      const url = new URL(original ? stage.dataset.originalUrl : stage.dataset.renderUrl, window.location.href);
      if (preset === "custom" && wanted) {
        url.searchParams.set("wc", wanted.center.toPrecision(4));
        url.searchParams.set("ww", wanted.width.toPrecision(4));
      } else if (preset !== "default") {
        url.searchParams.set("preset", preset); // the server computes the same window itself
      }
      return url.pathname + url.search;
    }

    // Live preview: the change from the shown window to the wanted one is a linear map of the
    // displayed grey levels (inverted images too), done by an SVG filter until the server answers.
    function preview() {
      const from = shown || base;
      const to = wanted || base;
      const slope = from.width / to.width;
      let intercept = (from.center - to.center + (to.width - from.width) / 2) / to.width;
      if (stage.dataset.inverted === "1") intercept = 1 - slope - intercept;
      funcs.forEach((f) => {
        f.setAttribute("slope", slope.toFixed(5));
        f.setAttribute("intercept", intercept.toFixed(5));
      });
      image.style.filter = filter && (slope !== 1 || intercept !== 0) ? `url(#${filter.id})` : "";
      if (readout) readout.textContent = describe(wanted);
    }

    function request(now) {
      clearTimeout(timer);
      timer = setTimeout(
        () => {
          const src = renderUrl(usingOriginal);
          if (image.getAttribute("src") === src) return;
          stage.classList.add("loading");
          const target = wanted;
          const loader = new Image();
          loader.onload = () => {
            image.src = src;
            shown = target;
            stage.classList.remove("loading");
            preview();
          };
          loader.onerror = () => stage.classList.remove("loading");
          loader.src = src;
        },
        now ? 0 : REQUEST_DELAY,
      );
    }

    function setWindow(win, name) {
      preset = name;
      wanted = win;
      presetButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.preset === name)));
      preview();
      request();
    }

    function choosePreset(name) {
      const button = presetButtons.find((b) => b.dataset.preset === name);
      if (!button) return;
      if (name === "default") {
        setWindow(null, "default");
        return;
      }
      const center = number(button.dataset.center);
      const width = number(button.dataset.width);
      setWindow(center !== null && width !== null ? { center, width } : null, name);
    }

    function cyclePreset(step) {
      if (!presetButtons.length) return;
      const names = presetButtons.map((b) => b.dataset.preset);
      const at = Math.max(0, names.indexOf(preset));
      choosePreset(names[(at + step + names.length) % names.length]);
    }

    function adjust(dWidth, dCenter) {
      const from = wanted || base;
      const width = Math.max(span / 1000, from.width * Math.exp(dWidth));
      // in MONOCHROME1 images higher values are darker: keep "up" meaning "brighter"
      const sign = stage.dataset.inverted === "1" ? -1 : 1;
      setWindow({ center: from.center + sign * dCenter * span, width }, "custom");
    }

    // --- pointer: left drag pans, shift or right drag windows --------------------------------
    let drag = null;
    canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      drag = {
        x: event.clientX,
        y: event.clientY,
        window: event.shiftKey || event.button === 2,
        startX: view.x,
        startY: view.y,
        startWindow: wanted || base,
      };
      canvas.classList.add(drag.window ? "windowing" : "panning");
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (drag.window) {
        const sign = stage.dataset.inverted === "1" ? -1 : 1;
        wanted = {
          width: Math.max(span / 1000, drag.startWindow.width * Math.exp(dx / 200)),
          center: drag.startWindow.center - sign * (dy / 400) * span,
        };
        preset = "custom";
        presetButtons.forEach((b) => b.setAttribute("aria-pressed", "false"));
        preview();
      } else {
        view.x = drag.startX + dx;
        view.y = drag.startY + dy;
        apply();
      }
    });
    const endDrag = () => {
      if (drag && drag.window) request();
      drag = null;
      canvas.classList.remove("windowing", "panning");
    };
    canvas.addEventListener("pointerup", endDrag);
    canvas.addEventListener("pointercancel", endDrag);
    canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        zoomAt(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, event.clientX, event.clientY);
      },
      { passive: false },
    );

    stage.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button || !stage.contains(button)) return;
      if (button.dataset.zoom) zoom(button.dataset.zoom);
      else if (button.dataset.preset) choosePreset(button.dataset.preset);
      else if ("reset" in button.dataset) {
        zoom("fit");
        choosePreset("default");
        if (!presetButtons.length) setWindow(null, "default");
      }
    });

    // Keys the grid does not use; handled before the grid's own listener sees them.
    stage.viewerKey = (event) => {
      const key = event.key;
      const step = 0.05;
      if (key === "+") zoom("in");
      else if (key === "-" || key === "_") zoom("out");
      else if (key === "*") zoom("fit");
      else if (key === "=") zoom("actual");
      else if (key === "[") cyclePreset(-1);
      else if (key === "]") cyclePreset(1);
      else if (event.shiftKey && key === "ArrowLeft") adjust(-step * 2, 0);
      else if (event.shiftKey && key === "ArrowRight") adjust(step * 2, 0);
      else if (event.shiftKey && key === "ArrowUp") adjust(0, step / 2);
      else if (event.shiftKey && key === "ArrowDown") adjust(0, -step / 2);
      else if (key.startsWith("Arrow") && !event.shiftKey) {
        // pan when zoomed; either way the arrows stay in the viewer, not the grid behind it
        const move = 60;
        if (key === "ArrowLeft") view.x += move;
        if (key === "ArrowRight") view.x -= move;
        if (key === "ArrowUp") view.y += move;
        if (key === "ArrowDown") view.y -= move;
        apply();
      } else return false;
      return true;
    };

    const resize = new ResizeObserver(() => {
      layout();
      apply();
    });
    resize.observe(canvas);
    if (readout) readout.textContent = describe(null);
    layout();
    apply();
  }

  function activeStage() {
    const stages = Array.from(document.querySelectorAll(".viewer-stage"));
    return stages.find((stage) => {
      const dialog = stage.closest("dialog");
      return stage.isConnected && (!dialog || dialog.open);
    });
  }

  window.addEventListener(
    "keydown",
    (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.matches && event.target.matches("input, textarea, select")) return;
      const stage = activeStage();
      if (stage && stage.viewerKey && stage.viewerKey(event)) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true,
  );

  // The grid's dialog: a bare tile image put there (by a grid that does not load the fragment
  // itself) is upgraded to the full viewer of that image.
  function watchDialog() {
    const body = document.getElementById("viewer-body");
    if (!body || body.dataset.viewerWatched) return;
    body.dataset.viewerWatched = "1";
    new MutationObserver(() => {
      const bare = body.querySelector(":scope > img");
      const match = bare && (bare.getAttribute("src") || "").match(/^(.*\/images\/\d+\/)(thumbnail|render\/\w+)\/?/);
      if (!match) return;
      fetch(match[1] + "viewer/", { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
        .then((html) => {
          if (!body.contains(bare)) return; // closed or replaced meanwhile
          body.innerHTML = html;
          init(body);
          const stage = body.querySelector(".viewer-stage");
          if (stage) stage.focus();
        })
        .catch(() => {}); // the bare image stays: still a picture
    }).observe(body, { childList: true });
  }

  function init(root) {
    watchDialog();
    (root || document).querySelectorAll(".viewer-stage").forEach(setup);
    if (root && root.matches && root.matches(".viewer-stage")) setup(root);
  }

  document.addEventListener("DOMContentLoaded", () => init(document));
  document.addEventListener("htmx:afterSwap", (event) => init(event.detail ? event.detail.target : document));
  if (document.readyState !== "loading") init(document);
  window.LabelAuditViewer = { init };
})();
