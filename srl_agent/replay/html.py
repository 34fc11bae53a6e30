"""`srl-agent replay PATH --html OUT.html`: one self-contained static page (inline CSS and JS, no network asset, a
Content-Security-Policy that forbids loading any) with the episodes, their steps, and the policy-vs-expert diffs.
Every text from the input is HTML-escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from pathlib import Path

from srl_agent.replay.model import Item, StepView, reward_text, step_reward
from srl_agent.replay.sources import Source
from srl_agent.replay.textdiff import char_diff

MAX_TEXT = 50_000  # characters per text block in the page; the rest is cut with a visible note

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{position:sticky;top:0;background:#1f2a44;color:#fff;padding:8px 16px;z-index:2;display:flex;gap:12px;align-items:center}
header input{flex:1;max-width:360px;padding:4px 8px} header button{padding:3px 8px}
main{padding:12px 16px} table.list{border-collapse:collapse;background:#fff;margin-bottom:16px}
table.list td,table.list th{padding:2px 10px;border-bottom:1px solid #e3e6ec;text-align:left}
section.episode{background:#fff;border:1px solid #d5d9e2;border-radius:6px;margin:16px 0;padding:8px 14px}
section.episode.hidden,tr.hidden{display:none} h2{font-size:17px;margin:4px 0} .facts{color:#556}
.step{border-left:4px solid #5faf5f;margin:10px 0;padding:2px 10px} .step.problem{border-color:#d75f5f}
.step h3{font-size:14px;margin:4px 0} .label{font-weight:600;color:#345;margin-top:6px}
pre{white-space:pre-wrap;word-break:break-word;background:#f3f4f7;padding:6px 8px;margin:2px 0;font:12.5px/1.4 ui-monospace,monospace}
.cmp{display:grid;grid-template-columns:1fr 1fr;gap:8px} del{background:#f6b5b5;text-decoration:none}
ins{background:#b5f0b5;text-decoration:none} .bad{color:#b00020;font-weight:600} .ok{color:#18794e;font-weight:600}
.cut{background:#fff3c4} .add{color:#18794e} .rem{color:#b00020} .hunk{color:#2a6fb0}
"""

JS = """
const eps=[...document.querySelectorAll('section.episode')];
let filter='all', q='';
function apply(){let shown=0;for(const e of eps){const d=e.dataset;
 const okf=filter==='all'||(filter==='resolved'&&d.resolved==='yes')||(filter==='unresolved'&&d.resolved==='no')||(filter==='errors'&&d.failed==='yes');
 const okq=!q||e.textContent.toLowerCase().includes(q);const show=okf&&okq;e.classList.toggle('hidden',!show);
 const row=document.getElementById('row-'+e.id);if(row)row.classList.toggle('hidden',!show);if(show)shown++;}
 document.getElementById('shown').textContent=shown+' of '+eps.length+' shown';}
document.getElementById('q').addEventListener('input',ev=>{q=ev.target.value.toLowerCase();apply();});
for(const b of document.querySelectorAll('button[data-filter]'))b.addEventListener('click',()=>{filter=b.dataset.filter;apply();});
let cur=-1;document.addEventListener('keydown',ev=>{if(ev.target.tagName==='INPUT')return;
 const vis=eps.filter(e=>!e.classList.contains('hidden'));if(!vis.length)return;
 if(ev.key==='j')cur=Math.min(cur+1,vis.length-1);else if(ev.key==='k')cur=Math.max(cur-1,0);else return;
 vis[cur].scrollIntoView();});
document.getElementById('stats').textContent=document.querySelectorAll('.step').length+' steps rendered';
apply();
"""


def _pre(text: str, cls: str = "") -> str:
    cut = ""
    if len(text) > MAX_TEXT:
        cut = f'<span class="cut">[… {len(text) - MAX_TEXT:,} more characters not exported …]</span>'
        text = text[:MAX_TEXT]
    return f'<pre class="{cls}">{escape(text)}{cut}</pre>'


def _patch(patch: str) -> str:
    lines = []
    for line in patch[:MAX_TEXT].splitlines():
        cls = "add" if line.startswith("+") else "rem" if line.startswith("-") else "hunk" if line.startswith("@@") else ""
        lines.append(f'<span class="{cls}">{escape(line)}</span>')
    return "<pre>" + "\n".join(lines) + "</pre>"


def _comparison(step: StepView) -> str:
    pred = step.action if step.action is not None else (step.completion or "")
    left, right = [], []
    for tag, a, b in char_diff(pred[:MAX_TEXT], (step.expert_action or "")[:MAX_TEXT]):
        if tag == "equal":
            left.append(escape(a)), right.append(escape(b))
            continue
        if a:
            left.append(f"<del>{escape(a)}</del>")
        if b:
            right.append(f"<ins>{escape(b)}</ins>")
    reward = step_reward(step)
    cls = "bad" if reward is not None and reward < 0 else "ok"
    note = f' <span class="bad">format error: {escape(step.format_error)}</span>' if step.format_error else ""
    return (f'<div class="label">policy vs expert — reward <span class="{cls}">{reward_text(reward)}</span>{note}</div>'
            f'<div class="cmp"><pre>{"".join(left)}</pre><pre>{"".join(right)}</pre></div>')


def _step(item: Item, s: StepView) -> str:
    facts = " · ".join(f"{escape(k)} {escape(v)}" for k, v in s.facts)
    problem = f' <span class="bad">{escape(s.problem)}</span>' if s.problem else ""
    out = [f'<div class="step{" problem" if s.problem else ""}" id="s-{s.index}">',
           f"<h3>step {s.index + 1}/{len(item.steps)} <span class=facts>{facts}</span>{problem}</h3>"]
    if s.thought:
        out += ['<div class="label">thought</div>', _pre(s.thought)]
    if s.expert_action is not None:
        out.append(_comparison(s))
    else:
        out += ['<div class="label">action</div>', _pre(s.action if s.action is not None else "(none: format failure)")]
    if s.completion is not None and (s.action is None or item.kind == "samples"):
        out += ['<div class="label">raw completion</div>', _pre(s.completion)]
    out += [f"<details{' open' if len(s.observation) < 4000 else ''}><summary class=label>{escape(s.observation_label)}"
            f" ({len(s.observation):,} characters)</summary>{_pre(s.observation)}</details>", "</div>"]
    return "\n".join(out)


def _episode(n: int, item: Item) -> str:
    s = item.summary
    resolved = {True: "yes", False: "no", None: "unknown"}[s.resolved]
    facts = " · ".join(f"{escape(k)} {escape(v)}" for k, v in item.facts)
    out = [f'<section class="episode" id="ep-{n}" data-resolved="{resolved}" data-failed="{"yes" if s.failed else "no"}">',
           f"<h2>{escape(s.instance_id)}</h2><div class=facts>{escape(item.origin)} · {facts}</div>"]
    if item.problem_statement:
        out.append(f"<details><summary class=label>issue</summary>{_pre(item.problem_statement)}</details>")
    if item.submission:
        out.append(f"<details><summary class=label>submission</summary>{_patch(item.submission)}</details>")
    out += [_step(item, step) for step in item.steps]
    out.append("</section>")
    return "\n".join(out)


def render_page(source: Source, indices: Iterable[int], title: str) -> str:
    """The page for the given items of `source` (parsed one at a time; a bad record raises DataError)."""
    rows, sections = [], []
    for n, i in enumerate(indices):
        item = source.item(i)
        s = item.summary
        mark = {True: "✓", False: "✗", None: "·"}[s.resolved]
        reward = ("≈" if s.reward_estimated and s.reward is not None else "") + reward_text(s.reward)
        rows.append(f'<tr id="row-ep-{n}"><td><a href="#ep-{n}">{escape(s.instance_id)}</a></td><td>{escape(s.status)}</td>'
                    f"<td>{mark}</td><td>{s.steps}</td><td>{reward}</td></tr>")
        sections.append(_episode(n, item))
    buttons = "".join(f'<button data-filter="{f}">{f}</button>' for f in ("all", "resolved", "unresolved", "errors"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title><style>{CSS}</style></head>
<body><header><b>srl-agent replay</b><span>{escape(title)}</span><input id="q" placeholder="filter by text">{buttons}
<span id="shown"></span><span id="stats"></span></header><main>
<table class="list"><tr><th>instance</th><th>status</th><th>resolved</th><th>steps</th><th>reward</th></tr>
{"".join(rows)}</table>
{"".join(sections)}
</main><script>{JS}</script></body></html>
"""


def export_html(source: Source, out: str | Path, indices: Iterable[int] | None = None, limit: int = 200) -> int:
    """Write the page; returns the number of items exported (the first `limit` unless `indices` are given)."""
    chosen = list(indices) if indices is not None else list(range(min(limit, len(source))))
    title = f"{source.path.name} · {source.kind} · {len(chosen)} of {len(source)}"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render_page(source, chosen, title), encoding="utf-8")
    return len(chosen)
