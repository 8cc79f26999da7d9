/* The approvals page: approve or deny with a note (POST /api/v1/approvals/{id}/approve|deny,
   X-CSRF-Token from the devfactory_csrf cookie); new halts are added as they come
   (GET /approvals/rows, polled every 1.5 s), rows already shown are never replaced. */
(function () {
  "use strict";
  const list = document.getElementById("approval-list");
  const count = document.getElementById("pending-count");
  const none = document.getElementById("no-pending");

  function recount() {
    const rows = Array.from(list.querySelectorAll('[data-testid="approval-row"]'));
    const n = rows.filter((r) => !r.dataset.statusNow || r.dataset.statusNow === "pending").length;
    count.textContent = String(n);
    none.hidden = list.querySelector('[data-testid="approval-row"]') !== null;
  }

  async function review(button) {
    const form = button.closest("form.review");
    const row = button.closest('[data-testid="approval-row"]');
    const id = row.dataset.approvalId;
    const verdict = button.dataset.verdict;
    const alert = form.querySelector("[role=alert]");
    const note = form.elements.note.value.trim();
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const body = await DF.json("/api/v1/approvals/" + encodeURIComponent(id) + "/" + verdict, {
        method: "POST", json: { note: note || null },
      });
      const status = row.querySelector('[data-testid="approval-status"]');
      status.textContent = body.status;
      status.className = "badge status-" + body.status;
      row.dataset.statusNow = body.status;
      row.classList.add("reviewed");
      form.replaceWith(DF.el("p", { class: "reviewed-note", role: "status", "data-testid": "review-result",
        text: body.status + " by " + (body.reviewer || "you") + (body.note ? ": " + body.note : "") }));
      recount();
    } catch (error) {
      DF.showError(alert, error.message);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-verdict]");
    if (button) review(button);
  });

  async function poll() {
    try {
      const response = await DF.api("/approvals/rows", { headers: { Accept: "text/html" } });
      if (response.ok) {
        const holder = document.createElement("template");
        holder.innerHTML = await response.text();
        for (const row of holder.content.querySelectorAll('[data-testid="approval-row"]')) {
          const id = row.dataset.approvalId;
          if (!list.querySelector('[data-approval-id="' + CSS.escape(id) + '"]')) list.prepend(row);
        }
        recount();
      }
    } catch (error) { /* the next poll tries again */ }
    setTimeout(poll, 1500);
  }

  document.addEventListener("DOMContentLoaded", () => { setTimeout(poll, 1500); });
})();
