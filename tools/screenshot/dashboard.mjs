// Logs in to the Aspire dashboard with the run's token and saves two screenshots: the resources page once every
// resource runs, and the trace of the model swap (upload -> labeling -> training -> inference).
// Usage: node dashboard.mjs <login url> <dashboard api key> <output folder>
import { chromium } from 'playwright-core';

const [loginUrl, apiKey, outputFolder] = process.argv.slice(2);
if (!loginUrl || !apiKey || !outputFolder) {
  console.error('usage: node dashboard.mjs <login url> <api key> <output folder>');
  process.exit(64);
}
const base = new URL(loginUrl).origin;
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  await page.goto(loginUrl);
  await page.waitForURL(url => !url.pathname.startsWith('/login'), { timeout: 30_000 });

  // Resources: wait until the table lists every resource as Running.
  const names = ['messaging', 'blobs', 'ingestion', 'labeling', 'training', 'training-worker', 'inference'];
  await page.goto(`${base}/`);
  await page.waitForFunction(expected => {
    const text = document.body.innerText;
    return expected.every(name => text.includes(name)) && (text.match(/Running/g) ?? []).length >= expected.length;
  }, names, { timeout: 120_000, polling: 500 });
  await page.waitForTimeout(1000); // let the health icons settle after the last state change
  await page.screenshot({ path: `${outputFolder}/dashboard-resources.png` });
  console.log(`saved ${outputFolder}/dashboard-resources.png`);

  // The trace of the model swap, found through the dashboard's telemetry API once inference has loaded the model.
  let swap;
  for (const started = Date.now(); !swap && Date.now() - started < 300_000;) {
    const answer = await fetch(`${base}/api/telemetry/spans?resource=inference&limit=1000`, { headers: { 'x-api-key': apiKey } });
    if (answer.ok) {
      const spans = await answer.json();
      swap = (spans.data?.resourceSpans ?? []).flatMap(r => r.scopeSpans.flatMap(s => s.spans)).find(s => s.name === 'load-model');
    }
    if (!swap) {
      await new Promise(resolve => setTimeout(resolve, 1000));
    }
  }
  if (!swap) {
    throw new Error('no load-model span from inference within 300 s: was the model trained and swapped in?');
  }
  await page.goto(`${base}/traces/detail/${swap.traceId}`);
  await page.waitForFunction(() => document.body.innerText.includes('Total spans'), null, { timeout: 30_000, polling: 500 });
  // The trace has about 190 spans (every blob request among them); keep the chain from the upload to the swap.
  await page.getByTitle('TracesNameFilter').locator('input').fill('load-model').catch(async () => {
    await page.locator('input[name="spans-search"]').first().fill('load-model');
  });
  await page.waitForFunction(() => document.body.innerText.includes('load-model'), null, { timeout: 30_000, polling: 500 });
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${outputFolder}/dashboard-trace.png` });
  console.log(`saved ${outputFolder}/dashboard-trace.png (trace ${swap.traceId})`);
} finally {
  await browser.close();
}
