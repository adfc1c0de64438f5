"""The style sheet and the script that :mod:`leaderboard.page` writes inline into every page (no file fetched).

The script (vanilla JavaScript, no library) makes every table with metric headings sortable. It reads only
what :func:`leaderboard.render_html.html_table` (and the per-clip tables of the run pages) put in the page:

* a metric heading ``<th data-metric="psnr" data-higher-is-better="true|false|">``; each body row's cell in that
  column has ``data-value`` (the number; empty for n/a);
* clicking a metric heading sorts the table's rows by it, better first (higher first when higher is better,
  lower first when lower is better, higher first when the direction is unknown); clicking it again reverses;
  rows whose value is n/a stay last in both directions; equal values keep the printed order. Clicking the
  heading of the column that names the rows (``method``, ``clip``: its body cells are ``<th scope="row">``)
  restores the printed order. Each table sorts its own
  rows only, so reported rows never mix with reproduced ones. Headings are focusable and sort on Enter or
  Space too;
* the state is kept in the table's ``data-sorted-by`` / ``data-sort-direction`` (``descending`` /
  ``ascending``) attributes and the heading's ``aria-sort``.

Two query parameters drive it without a mouse (what the headless-browser test uses, and a shareable link):
``?sort=ssim`` sorts every table that has the column better first on load (``?sort=-ssim`` worse first);
``?click=ssim,ssim,order`` dispatches click events on those headings of every table, in order, through the
same handler a mouse click runs (``order``: the heading that restores the printed order).
"""

PAGE_STYLE = """
table.sortable thead th[data-metric], table.sortable thead th[data-column] { cursor: pointer; }
table.sortable thead th[aria-sort=descending]::after { content: " \\25BE"; }
table.sortable thead th[aria-sort=ascending]::after { content: " \\25B4"; }
table.sortable thead th:focus { outline: 2px solid #4477aa; }
table.plain { border-collapse: collapse; margin: 0.5em 0 1.5em; }
table.plain th, table.plain td { padding: 0.15em 0.7em; text-align: right; white-space: nowrap; }
table.plain thead th { border-top: 2px solid #222; border-bottom: 1px solid #222; }
table.plain tbody tr:last-child > * { border-bottom: 2px solid #222; }
table.plain th[scope=row], table.plain thead th:first-child, table.plain td.text { text-align: left; }
figure.strip { display: inline-block; margin: 0 1.5em 1em 0; }
figure.strip img { image-rendering: pixelated; border: 1px solid #ccc; }
figure.strip figcaption { font-size: 0.85em; max-width: 40em; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; }
dl.run dt { font-weight: bold; }
dl.run dd { margin: 0; }
p.how { font-size: 0.9em; color: #444; }
""".strip()

SORT_SCRIPT = r"""
(function () {
  "use strict";
  // the heading above the rows' names (the body's <th scope="row"> cells) restores the printed order
  function isOrderHeading(th) {
    var table = th.closest("table");
    var first = table.tBodies[0].rows[0];
    var cell = first ? first.cells[th.cellIndex] : null;
    return !th.hasAttribute("data-metric") && cell !== null && cell !== undefined && cell.tagName === "TH";
  }

  function headingKey(th) {
    return th.getAttribute("data-metric") || (isOrderHeading(th) ? "order" : th.getAttribute("data-column") || "");
  }

  function higherFirst(th) {
    return th.getAttribute("data-higher-is-better") !== "false";
  }

  function valueOf(row, index) {
    var cell = row.cells[index];
    var text = cell ? cell.getAttribute("data-value") : null;
    if (text === null || text === "") { return null; }
    var value = Number(text);
    return isFinite(value) ? value : null;
  }

  function printedOrder(row) {
    return Number(row.getAttribute("data-order"));
  }

  // descending: true sorts high to low, false low to high, null restores the printed order
  function sortTable(table, th, descending) {
    var body = table.tBodies[0];
    var index = th.cellIndex;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      if (descending !== null) {
        var x = valueOf(a, index), y = valueOf(b, index);
        if (x === null && y !== null) { return 1; }
        if (y === null && x !== null) { return -1; }
        if (x !== null && y !== null && x !== y) { return descending ? y - x : x - y; }
      }
      return printedOrder(a) - printedOrder(b);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    if (descending === null) {
      table.removeAttribute("data-sorted-by");
      table.removeAttribute("data-sort-direction");
    } else {
      var direction = descending ? "descending" : "ascending";
      th.setAttribute("aria-sort", direction);
      table.setAttribute("data-sorted-by", headingKey(th));
      table.setAttribute("data-sort-direction", direction);
    }
  }

  function onHeadingClick(event) {
    var th = event.currentTarget;
    var table = th.closest("table");
    if (isOrderHeading(th)) { sortTable(table, th, null); return; }
    var better = higherFirst(th);
    var sortedBetterFirst = table.getAttribute("data-sorted-by") === headingKey(th) &&
      table.getAttribute("data-sort-direction") === (better ? "descending" : "ascending");
    sortTable(table, th, sortedBetterFirst ? !better : better);
  }

  function onHeadingKey(event) {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); event.currentTarget.click(); }
  }

  function headingsNamed(key) {
    return Array.prototype.filter.call(document.querySelectorAll("table.sortable thead th"), function (th) {
      return headingKey(th) === key;
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table"), function (table) {
    if (!table.tHead || !table.tBodies.length || !table.querySelector("thead th[data-metric]")) { return; }
    table.classList.add("sortable");
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) { row.setAttribute("data-order", i); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (!th.hasAttribute("data-metric") && !isOrderHeading(th)) { return; }
      th.tabIndex = 0;
      th.title = isOrderHeading(th) ? "restore the printed order" : "sort by this column (again: reverse)";
      th.addEventListener("click", onHeadingClick);
      th.addEventListener("keydown", onHeadingKey);
    });
  });

  var query = new URLSearchParams(window.location.search);
  var sort = query.get("sort");
  if (sort) {
    var worstFirst = sort.charAt(0) === "-";
    headingsNamed(worstFirst ? sort.slice(1) : sort).forEach(function (th) {
      if (th.hasAttribute("data-metric")) { sortTable(th.closest("table"), th, higherFirst(th) !== worstFirst); }
    });
  }
  (query.get("click") || "").split(",").filter(Boolean).forEach(function (key) {
    headingsNamed(key).forEach(function (th) { th.click(); });
  });
})();
""".strip()
