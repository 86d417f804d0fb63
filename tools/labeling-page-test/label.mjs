// Labels rows through the labeling page in a real browser (Debian's chromium, driven by playwright-core), the way a
// person does: keys only. Run by tests/BigDataAI.IntegrationTests/Labeling/LabelingPageTests.cs, which checks the
// stored labels through the API afterwards.
//
// usage: node label.mjs --url http://127.0.0.1:PORT/labeling/ --project ID --user U --password P
//                       [--labels N] [--screenshot FILE] [--screenshot-only]
//   1. opens ?project=ID without a log-in and expects the log-in form with the server's 401 in the banner;
//   2. logs in with a wrong password (expects a 401 in the banner), then with the right one;
//   3. labels N tasks: the class's key (read from its button) per task, then Enter (the class is chosen from the row
//      number, so the test knows what to expect; multi-label projects get two classes, toggled by key), saving --screenshot of the first task before its key is pressed;
//   4. presses Backspace, expects the last task back, picks another class and presses Enter again;
//   5. waits until the page has no request in flight and no error in its banner.
// With --screenshot-only it logs in, saves the screenshot of the first task and stops.
// The last line of stdout is JSON: { unauthenticatedBanner, wrongPasswordBanner, labels: [{ row, classes }],
//                                    undone: { row, classes }, shownRows: [...], nextTaskMs: [...] }.
import { chromium } from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) {
    const next = all[i + 1];
    pairs.push([arg.slice(2), next === undefined || next.startsWith('--') ? 'true' : next]);
  }
  return pairs;
}, []));
for (const name of ['url', 'project', 'user', 'password']) {
  if (!args[name]) {
    console.error(`missing --${name}\nusage: node label.mjs --url URL --project ID --user U --password P [--labels N] [--screenshot FILE] [--screenshot-only]`);
    process.exit(64);
  }
}
const labelCount = Number(args.labels ?? 5);
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const timeout = 30_000;

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('console', message => {
    if (message.type() === 'error' && !/status of 401|status of 409|status of 404/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', error => problems.push(`page error: ${error.message}`));
  // Nothing may leave for another address: every request goes to the service or is a data: URL.
  const origin = new URL(args.url).origin;
  page.on('request', request => {
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('data:')) {
      problems.push(`request to another address: ${url}`);
    }
  });

  const bannerText = () => page.locator('#banner-text').innerText();
  const waitForBanner = async pattern => {
    await page.waitForFunction(p => new RegExp(p).test(document.getElementById('banner-text').textContent), pattern.source);
    return bannerText();
  };
  const waitForIdle = () => page.waitForFunction(() => document.body.dataset.pending === '0');
  const shownRow = () => page.evaluate(() => document.body.dataset.row);
  const waitForRowOtherThan = row => page.waitForFunction(r => document.body.dataset.row && document.body.dataset.row !== r, row);

  // 1. No log-in: the server answers 401 and the page says so above the log-in form.
  const projectUrl = new URL(`?project=${encodeURIComponent(args.project)}`, args.url).href;
  await page.goto(projectUrl);
  await page.locator('#login-form').waitFor({ state: 'visible' });
  const unauthenticatedBanner = await waitForBanner(/^401/);

  // 2. A wrong password, then the right one.
  await page.fill('input[name=user]', args.user);
  await page.fill('input[name=password]', `${args.password}-wrong`);
  await page.press('input[name=password]', 'Enter');
  await page.waitForFunction(before => document.getElementById('banner-text').textContent !== before || document.body.dataset.state !== 'login', unauthenticatedBanner).catch(() => {});
  const wrongPasswordBanner = await waitForBanner(/^401/);
  await page.fill('input[name=user]', args.user);
  await page.fill('input[name=password]', args.password);
  await page.press('input[name=password]', 'Enter');
  await page.waitForFunction(() => document.body.dataset.state === 'labeling' && document.body.dataset.row);
  if (!(await page.locator('#banner').isHidden())) {
    throw new Error(`the banner still shows "${await bannerText()}" after logging in`);
  }
  const buttons = await page.locator('#classes button').evaluateAll(list => list.map(b => ({ name: b.dataset.class, key: b.getAttribute('aria-keyshortcuts') })));
  const classes = buttons.filter(b => b.key).map(b => b.name);
  const keyOf = Object.fromEntries(buttons.map(b => [b.name, b.key]));
  if (classes.length === 0) {
    throw new Error('the page shows no class buttons with keys');
  }
  if (args.screenshot) {
    await page.waitForFunction(() => [...document.querySelectorAll('#content img')].every(i => i.complete));
    await page.screenshot({ path: args.screenshot });
  }
  if (args['screenshot-only'] === 'true') {
    console.log(JSON.stringify({ unauthenticatedBanner, wrongPasswordBanner, labels: [], shownRows: [await shownRow()] }));
  } else {
    // 3. Label with the keyboard: the class is the row number modulo the number of classes (multi-label: that class and
    //    the next, with a third toggled on and off again on the way).
    const multi = await page.evaluate(() => document.body.dataset.multiLabel === 'true');
    const pressedClasses = () => page.locator('#classes button[aria-pressed=true]').evaluateAll(b => b.map(x => x.dataset.class));
    const sameSet = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
    /** Presses keys until exactly `wanted` is selected: single-label, the class's key; multi-label, toggles. */
    const choose = async wanted => {
      if (multi) {
        const extra = classes.find(c => !wanted.includes(c));
        for (const name of await pressedClasses()) {
          if (!wanted.includes(name)) {
            await page.keyboard.press(keyOf[name]);
          }
        }
        if (extra !== undefined && !(await pressedClasses()).includes(extra)) {
          await page.keyboard.press(keyOf[extra]); // on ...
        }
        for (const name of wanted) {
          if (!(await pressedClasses()).includes(name)) {
            await page.keyboard.press(keyOf[name]);
          }
        }
        if (extra !== undefined) {
          await page.keyboard.press(keyOf[extra]); // ... and off again
        }
      } else {
        await page.keyboard.press(keyOf[wanted[0]]);
      }
      const pressed = await pressedClasses();
      if (!sameSet(pressed, wanted)) {
        throw new Error(`the keys should select ${JSON.stringify(wanted)} but selected ${JSON.stringify(pressed)}`);
      }
    };
    const classesFor = index => multi ? [classes[index], classes[(index + 1) % classes.length]] : [classes[index]];

    const labels = [];
    const shownRows = [];
    const nextTaskMs = []; // from pressing Enter to the next task on the page
    for (let i = 0; i < labelCount; i++) {
      const row = await shownRow();
      if (!row) {
        throw new Error(`no task shown after ${i} labels`);
      }
      shownRows.push(row);
      const wanted = classesFor(Number(BigInt(row) % BigInt(classes.length)));
      await choose(wanted);
      // A person takes a moment; durationMs is measured from showing the task to Enter.
      await page.waitForTimeout(30);
      const pressedAt = Date.now();
      await page.keyboard.press('Enter');
      labels.push({ row, classes: wanted });
      if (i < labelCount - 1) {
        await waitForRowOtherThan(row);
        nextTaskMs.push(Date.now() - pressedAt);
      }
    }

    // 4. Backspace brings the last task back, with the classes chosen; label it again with other classes.
    await waitForIdle();
    const last = labels[labels.length - 1];
    await page.keyboard.press('Backspace');
    await page.waitForFunction(r => document.body.dataset.row === r && document.body.dataset.pending === '0', last.row);
    const restored = await pressedClasses();
    if (!sameSet(restored, last.classes)) {
      throw new Error(`after Backspace the page should show row ${last.row} with ${JSON.stringify(last.classes)} chosen, not ${JSON.stringify(restored)}`);
    }
    const undone = { ...last };
    const again = classesFor((classes.indexOf(last.classes[0]) + 1) % classes.length);
    await choose(again);
    await page.keyboard.press('Enter');
    last.classes = again;

    // 5. Every label stored, nothing refused.
    await waitForIdle();
    if (!(await page.locator('#banner').isHidden())) {
      throw new Error(`the page shows an error: "${await bannerText()}"`);
    }
    console.log(JSON.stringify({ unauthenticatedBanner, wrongPasswordBanner, labels, undone, shownRows, nextTaskMs }));
  }
  if (problems.length > 0) {
    throw new Error(problems.join('\n'));
  }
} finally {
  await browser.close();
}
