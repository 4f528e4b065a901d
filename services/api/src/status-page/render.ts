import { fill, LANGS, T, type Lang } from './i18n';
import type { PublicIncident, PublicPortal, PublicStatus } from './status-model';

/**
 * The status page as one server-rendered HTML document: no script, one inline style sheet, semantic landmarks,
 * readable at 360 px. Every dynamic value goes through esc().
 */
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

export function formatTime(isoText: string, lang: Lang, timeZone: string): string {
  return new Intl.DateTimeFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone, dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(isoText));
}

const STATE_CLASS: Record<PublicPortal['state'], string> = {
  operational: 'ok',
  standby: 'warn',
  switching: 'warn',
  degraded: 'warn',
  disrupted: 'bad',
  unknown: 'none',
};

function percent(v: number | null, lang: Lang): string {
  if (v === null) return T.noData[lang];
  return `${v.toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB', { maximumFractionDigits: 3 })} %`;
}

function time(iso: string, lang: Lang, tz: string): string {
  return `<time datetime="${esc(iso)}">${esc(formatTime(iso, lang, tz))}</time>`;
}

function incident(i: PublicIncident, lang: Lang, tz: string): string {
  const rows: string[] = [];
  if (i.firstFailureAt) rows.push(`<dt>${T.firstFailure[lang]}</dt><dd>${time(i.firstFailureAt, lang, tz)}</dd>`);
  rows.push(`<dt>${T.switchStarted[lang]}</dt><dd>${time(i.switchStartedAt, lang, tz)}</dd>`);
  if (i.restoredAt) rows.push(`<dt>${T.recovered[lang]}</dt><dd>${time(i.restoredAt, lang, tz)}</dd>`);
  if (i.result === 'failed') rows.push(`<dt>${T.switchFailed[lang]}</dt><dd>—</dd>`);
  return `<li class="incident"><h4>${esc(i.title[lang])}</h4><p>${esc(fill(T.fromTo[lang], { from: i.fromProvider, to: i.toProvider }))}</p><dl>${rows.join('')}</dl></li>`;
}

function portal(p: PublicPortal, lang: Lang, tz: string): string {
  const avail = (Object.keys(T.windows[lang]) as (keyof (typeof T.windows)['vi'])[])
    .map((w) => `<tr><th scope="row">${T.windows[lang][w]}</th><td>${percent(p.availability[w], lang)}</td></tr>`)
    .join('');
  const maintenance = p.maintenance.length
    ? `<ul>${p.maintenance
        .map(
          (m) =>
            `<li>${fill(T.maintenanceFrom[lang], { from: '' })}${time(m.from, lang, tz)} ${m.until ? `${fill(T.maintenanceUntil[lang], { until: '' })}${time(m.until, lang, tz)}` : T.maintenanceOpen[lang]}${m.note ? `: ${esc(m.note)}` : ''}</li>`,
        )
        .join('')}</ul>`
    : `<p>${T.noMaintenance[lang]}</p>`;
  const drill = p.lastDrill ? `<p>${time(p.lastDrill.at, lang, tz)} (${T.drillMode[lang][p.lastDrill.mode]})</p>` : `<p>${T.noDrill[lang]}</p>`;
  const headingId = `portal-${esc(p.id)}`;
  return `<section class="portal" aria-labelledby="${headingId}">
<h2 id="${headingId}">${esc(p.name)}</h2>
<p class="state ${STATE_CLASS[p.state]}"><span class="dot" aria-hidden="true"></span><strong>${esc(p.stateText[lang])}</strong></p>
<p>${T.provider[lang]}: <strong class="provider">${esc(p.provider)}</strong></p>
<h3>${T.availability[lang]}</h3>
<table><tbody>${avail}</tbody></table>
<h3>${T.incidents[lang]}</h3>
${p.incidents.length ? `<ol class="incidents">${p.incidents.map((i) => incident(i, lang, tz)).join('')}</ol>` : `<p>${T.noIncidents[lang]}</p>`}
<h3>${T.maintenance[lang]}</h3>
${maintenance}
<h3>${T.lastDrill[lang]}</h3>
${drill}
</section>`;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#f6f7f9}
header,main,footer{max-width:60rem;margin:0 auto;padding:1rem}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;justify-content:space-between}
h1{font-size:1.5rem;margin:.25rem 0}
nav ul{list-style:none;margin:0;padding:0;display:flex;gap:1rem}
a{color:#0b4f9c}
.portal{background:#fff;border:1px solid #d0d4da;border-radius:.5rem;padding:1rem;margin-bottom:1rem;overflow-wrap:anywhere}
.portal h2{font-size:1.25rem;margin:0 0 .5rem}
.portal h3{font-size:1rem;margin:1rem 0 .25rem}
.portal h4{font-size:1rem;margin:0}
.state{font-size:1.1rem;display:flex;align-items:center;gap:.5rem}
.dot{width:.9rem;height:.9rem;border-radius:50%;display:inline-block;flex:none}
.ok .dot{background:#1a7f37}.warn .dot{background:#b35900}.bad .dot{background:#c4161c}.none .dot{background:#6b7280}
table{border-collapse:collapse;width:100%;max-width:24rem}
th,td{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #e5e7eb}
td{text-align:right;font-variant-numeric:tabular-nums}
ol.incidents{padding-left:1.25rem}
.incident{margin-bottom:.75rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:0 .75rem;margin:.25rem 0}
dt{color:#4b5563}dd{margin:0}
footer{color:#4b5563;font-size:.9rem}
`;

export function renderStatusPage(doc: PublicStatus, lang: Lang, hrefFor: (lang: Lang) => string): string {
  const tz = doc.timeZone;
  const nav = LANGS.map((l) => (l === lang ? `<li><span aria-current="true">${T.lang[l]}</span></li>` : `<li><a href="${esc(hrefFor(l))}" hreflang="${l}" lang="${l}">${T.lang[l]}</a></li>`)).join('');
  const body = doc.portals.length ? doc.portals.map((p) => portal(p, lang, tz)).join('\n') : `<p>${T.noPortals[lang]}</p>`;
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(doc.title)}</h1><nav aria-label="${lang === 'vi' ? 'Ngôn ngữ' : 'Language'}"><ul>${nav}</ul></nav></header>
<main>
${body}
</main>
<footer><p>${T.updated[lang]} ${time(doc.generatedAt, lang, tz)}. ${T.timeZone[lang]} ${esc(tz)}.</p></footer>
</body>
</html>
`;
}

