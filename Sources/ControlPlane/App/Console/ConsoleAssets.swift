/// The console's one script and one stylesheet, served from this origin (the CSP allows nothing else).
enum ConsoleAssets {
    /// Live regions: every 3 s, a `data-live` section is replaced by a fresh copy from the server
    /// when it changed, unless the person is typing in it. Destructive buttons ask first.
    static let script = """
        "use strict";
        const shown = new WeakMap();
        function refresh(section) {
          if (section.contains(document.activeElement) && document.activeElement !== document.body) return;
          fetch(section.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
            .then(function (response) { return response.ok ? response.text() : null; })
            .then(function (html) {
              if (html === null || html === shown.get(section)) return;
              if (section.contains(document.activeElement) && document.activeElement !== document.body) return;
              shown.set(section, html);
              section.innerHTML = html;
              wire(section);
            })
            .catch(function () {});
        }
        function wire(root) {
          root.querySelectorAll("button.danger").forEach(function (button) {
            if (button.dataset.wired) return;
            button.dataset.wired = "1";
            button.addEventListener("click", function (event) {
              if (!window.confirm(button.textContent.trim() + "?")) event.preventDefault();
            });
          });
        }
        document.addEventListener("DOMContentLoaded", function () {
          wire(document);
          document.querySelectorAll("[data-live]").forEach(function (section) {
            window.setInterval(function () { refresh(section); }, 3000);
          });
        });
        """

    static let style = """
        *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d232b;background:#f6f7f9}
        header{display:flex;gap:1em;align-items:center;padding:.6em 1.2em;background:#1d2b3a;color:#fff}
        header a.brand{color:#fff;font-weight:700;text-decoration:none;margin-right:auto}header .who{opacity:.85}
        header select,header button{font:inherit}
        nav{display:flex;flex-wrap:wrap;gap:.2em;padding:.4em 1.2em;background:#e9edf2;border-bottom:1px solid #d5dbe3}
        nav a{padding:.3em .7em;border-radius:4px;color:#1d2b3a;text-decoration:none}nav a.active{background:#1d2b3a;color:#fff}
        main{padding:1em 1.6em;max-width:1200px}h1{font-size:1.5em;margin:.3em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .5em}
        table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde2e8;margin:.4em 0}
        th,td{text-align:left;padding:.4em .6em;border-bottom:1px solid #eef1f4;vertical-align:top}th{background:#f0f3f6;font-weight:600}
        td code{white-space:pre-wrap;overflow-wrap:anywhere}td.actions{min-width:16em}
        td.actions form.inline{display:flex;margin:.15em 0}td.actions form.inline input{width:9em}
        form.card{background:#fff;border:1px solid #dde2e8;padding:1em;max-width:40em;display:flex;flex-direction:column;gap:.6em}
        form.inline{display:inline-flex;gap:.4em;align-items:end;margin:.2em .3em .2em 0;flex-wrap:wrap}
        label{display:flex;flex-direction:column;font-size:.9em;gap:.2em}form.inline label{flex-direction:row;align-items:center;gap:.3em}
        input,select,textarea{font:inherit;padding:.3em .4em;border:1px solid #b9c2cc;border-radius:4px}
        textarea{font-family:ui-monospace,monospace;font-size:.85em}
        button{font:inherit;padding:.35em .9em;border:1px solid #1d2b3a;background:#1d2b3a;color:#fff;border-radius:4px;cursor:pointer}
        button.danger{background:#b03a2e;border-color:#b03a2e}
        .flash{background:#e5f5e9;border:1px solid #9bd3a8;padding:.5em .8em}.error{background:#fdecea;border:1px solid #f1a9a0;padding:.5em .8em}
        .empty{color:#667}.secret{font-size:1.05em;background:#fff8dc;padding:.3em .5em;word-break:break-all}
        pre{background:#fff;border:1px solid #dde2e8;padding:.8em;overflow:auto;max-height:32em}
        svg.chart{display:block;width:100%;max-width:900px;background:#fff;border:1px solid #dde2e8;margin:.6em 0}
        """
}
