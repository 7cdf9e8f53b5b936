// hookrelay dashboard: progressive enhancement only. Every page works without this file;
// it adds copy buttons, live updates (attempts, job logs), the live template preview and
// confirmation prompts.
"use strict";

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = source.value !== undefined ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
      } catch (_) {
        source.select && source.select();
        document.execCommand && document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  }
}

// <section data-live="/fragment-url" data-live-every="2000">: re-fetched while the page is
// visible, replaced when it changed; a fragment holding [data-live-final] will not change
// again, so the region stops asking.
function liveRegions() {
  for (const region of document.querySelectorAll("[data-live]")) {
    const every = Number(region.dataset.liveEvery || 2000);
    const refresh = async () => {
      if (document.visibilityState === "visible") {
        try {
          const response = await fetch(region.dataset.live, { credentials: "same-origin" });
          if (response.ok) {
            const html = await response.text();
            if (html !== region.innerHTML) region.innerHTML = html;
          }
        } catch (_) { /* the next round tries again */ }
      }
      if (!region.querySelector("[data-live-final]")) setTimeout(refresh, every);
    };
    setTimeout(refresh, every);
  }
}

// <pre data-sse="/…/log">: a running job's log, streamed by Server-Sent Events.
function liveLogs() {
  for (const log of document.querySelectorAll("pre[data-sse]")) {
    const status = document.getElementById(log.dataset.status);
    const source = new EventSource(log.dataset.sse);
    const stick = () => { log.scrollTop = log.scrollHeight; };
    source.addEventListener("reset", (e) => { log.textContent = JSON.parse(e.data); stick(); });
    source.addEventListener("log", (e) => { log.textContent += JSON.parse(e.data); stick(); });
    source.addEventListener("status", (e) => {
      if (status) {
        const value = JSON.parse(e.data);
        status.textContent = value;
        status.className = "badge badge-" + value;
      }
    });
    source.addEventListener("end", () => {
      source.close();
      const done = document.getElementById(log.dataset.ended);
      if (done) done.hidden = false;
      // What only a live job offers (its Cancel button) goes with it.
      const gone = document.getElementById(log.dataset.goneWhenEnded);
      if (gone) gone.hidden = true;
    });
  }
}

// <form data-preview="/…/preview">: renders the template against the sample event as
// the person types.
function livePreview() {
  for (const form of document.querySelectorAll("form[data-preview]")) {
    const output = document.getElementById("preview-output");
    const verdict = document.getElementById("preview-verdict");
    if (!output) continue; // a notification target words its own message
    let timer = null;
    const render = async () => {
      const body = new URLSearchParams(new FormData(form));
      try {
        const response = await fetch(form.dataset.preview, {
          method: "POST",
          credentials: "same-origin",
          headers: { "x-csrf-token": form.elements["_csrf"].value },
          body,
        });
        const answer = await response.json();
        if (response.ok) {
          output.textContent = answer.body;
          output.classList.remove("error");
          verdict.textContent = (answer.matches ? "This event triggers the webhook. " : "This event does not match the triggers. ") +
            "Content-Type: " + answer.content_type;
        } else {
          output.textContent = answer.detail;
          output.classList.add("error");
          verdict.textContent = "";
        }
      } catch (_) { /* keep the last preview */ }
    };
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(render, 300); });
    const button = document.getElementById("preview-button");
    if (button) button.addEventListener("click", (e) => { e.preventDefault(); render(); });
    render();
  }
}

function confirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  liveRegions();
  liveLogs();
  livePreview();
  confirmations();
});
