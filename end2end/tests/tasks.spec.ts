import { test, expect } from './fixtures';
import { addParts, api, jobRow, signIn, token, unique } from './helpers';

test('a job created over REST appears without reload, and its tree expands to a sub-step', async ({ page, request }) => {
  const admin = api(request, await token(request));
  await signIn(page);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const description = unique('Backup of vm');
  const job = await admin.post('/api/jobs', { description });
  const row = jobRow(page, description);
  await expect(row).toBeVisible();
  await expect(row).toContainText('Running');
  await expect(row).toContainText('External');

  const parent = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy disks', type: 'executing' });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy disk 1', type: 'executing', parent_id: parent.id, parent_type: 'step' });
  await admin.post(`/api/jobs/${job.id}/steps/${parent.id}/progress`, { progress: 40 }, 200);

  // Keyboard: focus the row, expand with the right arrow.
  await row.focus();
  await page.keyboard.press('ArrowRight');
  await expect(row).toHaveAttribute('aria-expanded', 'true');
  await expect(row.getByRole('treeitem', { name: /Copy disk 1/ })).toBeVisible();
  await expect(row.getByRole('treeitem', { name: /Copy disk 1/ })).toHaveAttribute('aria-level', '3');
  await expect(row.getByRole('progressbar').first()).toBeVisible();

  // A new step appears live in the open tree.
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Verify', type: 'finalizing' });
  await expect(row.getByRole('treeitem', { name: /Verify/ })).toBeVisible();
  // Status changes arrive without reload.
  await admin.post(`/api/jobs/${job.id}/end`, { status: 'failed' }, 200);
  await expect(row).toContainText('Failed');
});

test('filtering to Internal hides external jobs and the URL keeps the filter across a reload', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('External work');
  await admin.post('/api/jobs', { description });
  await signIn(page);
  await expect(jobRow(page, description)).toBeVisible();
  await page.getByLabel('External').selectOption('false');
  await expect(page).toHaveURL(/external=false/);
  await expect(jobRow(page, description)).toHaveCount(0);
  await page.reload();
  await expect(page.getByLabel('External')).toHaveValue('false');
  await expect(page).toHaveURL(/external=false/);
  await expect(jobRow(page, description)).toHaveCount(0);
  await page.getByLabel('External').selectOption('true');
  await expect(jobRow(page, description)).toBeVisible();
});

test('ending a job with force from the UI aborts its open steps; the timeline draws a bar per step', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('Migration');
  const job = await admin.post('/api/jobs', { description });
  const a = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Validate', type: 'validating' });
  await admin.post(`/api/jobs/${job.id}/steps/${a.id}/end`, { status: 'finished' }, 200);
  const b = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Move data', type: 'executing' });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Move block 1', type: 'executing', parent_id: b.id, parent_type: 'step' });

  await signIn(page);
  await jobRow(page, description).getByRole('link', { name: description }).click();
  await expect(page).toHaveURL(new RegExp(`/jobs/${job.id}`));
  await expect(page.getByTestId('timeline-bar')).toHaveCount(3);

  await page.getByRole('button', { name: 'End job…' }).click();
  await expect(page.getByRole('dialog')).toContainText('With force they are aborted');
  await page.getByLabel('End as').selectOption('finished');
  await page.getByLabel('Force').check();
  await page.getByRole('button', { name: 'Confirm end' }).click();
  await expect(page.getByTestId('job-status')).toContainText('Finished');

  const steps = await admin.get(`/api/jobs/${job.id}/steps`);
  const byName = Object.fromEntries(steps.items.map((s: any) => [s.description, s.status]));
  expect(byName).toEqual({ 'Validate': 'finished', 'Move data': 'aborted', 'Move block 1': 'aborted' });
  await expect(page.getByRole('treeitem', { name: /Move block 1/ })).toContainText('Aborted');

  // The view survives a reload.
  await page.reload();
  await expect(page.getByTestId('timeline-bar')).toHaveCount(3);
  await expect(page.getByTestId('job-status')).toContainText('Finished');
});

test('a TaskViewer sees jobs but no action buttons', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('viewer').replace(' ', '-');
  const user = await admin.post('/api/users', { username: name, password: 'viewer-password' });
  await admin.put(`/api/users/${user.id}/roles/TaskViewer`);
  const description = unique('Watched job');
  const job = await admin.post('/api/jobs', { description });

  await signIn(page, name, 'viewer-password');
  await expect(jobRow(page, description)).toBeVisible();
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('job-status')).toContainText('Running');
  await expect(page.getByRole('button', { name: 'End job…' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Clear' })).toHaveCount(0);
});

test('a job with hundreds of steps on one level shows them 200 at a time, in the tree and on the timeline', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const job = await admin.post('/api/jobs', { description: unique('Wide job') });
  await addParts(admin, job.id, 250);
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('step-row')).toHaveCount(200);
  await expect(page.getByTestId('timeline-bar')).toHaveCount(200);
  const more = page.getByTestId('more-steps');
  await expect(more).toContainText('Show 50 more');
  await expect(more).toContainText('200 of 250 steps shown');
  // Keyboard: the button is reachable and works with Enter.
  await more.getByRole('button').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('step-row')).toHaveCount(250);
  await expect(more).toHaveCount(0);
  await page.getByTestId('more-bars').getByRole('button').click();
  await expect(page.getByTestId('timeline-bar')).toHaveCount(250);
  // A live update redraws the job but keeps what the person opened: a step collapsed by hand stays
  // collapsed, and the windows shown stay shown.
  const first = (await admin.get(`/api/jobs/${job.id}/steps`)).items[0];
  const folded = page.getByTestId('step-row')
    .filter({ has: page.locator('.desc', { hasText: new RegExp(`^${first.description}$`) }) });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'A sub-step', type: 'executing', parent_id: first.id, parent_type: 'step' });
  await expect(folded).toHaveAttribute('aria-expanded', 'true');
  await folded.getByRole('button', { name: 'Collapse' }).click();
  await expect(folded).toHaveAttribute('aria-expanded', 'false');
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Part 250', type: 'executing' });
  await expect(page.getByTestId('step-row').filter({ hasText: 'Part 250' })).toHaveCount(1);
  await expect(page.getByTestId('timeline-bar')).toHaveCount(252);
  await expect(folded).toHaveAttribute('aria-expanded', 'false');
  await expect(page.getByTestId('more-steps')).toHaveCount(0);
});

test("a change to an open job's detail fetches the job once, steps included", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const job = await admin.post('/api/jobs', { description: unique('Fetched once') });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'First', type: 'executing' });
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('step-row')).toHaveCount(1);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  let fetches = 0;
  page.on('request', (r) => { if (/\/sfn\/.*get_job/i.test(r.url())) fetches++; });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Second', type: 'executing' });
  await expect(page.getByTestId('step-row')).toHaveCount(2);
  await expect(page.getByTestId('timeline-bar')).toHaveCount(2);
  // The tree used to fetch the whole job twice more: a job of 100,000 steps is 29 MB each time.
  await page.waitForTimeout(1000);
  expect(fetches).toBe(1);
});

test('a long owner name is cut short in its column, and a progress figure stays inside its bar', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('nightly-backup-plugin-of-the-storage-team').replace(' ', '-');
  const user = await admin.post('/api/users', { username: name, password: 'plugin-password' });
  await admin.put(`/api/users/${user.id}/roles/ExternalTasksCreator`);
  const plugin = api(request, await token(request, name, 'plugin-password'));
  const description = unique('Owned by a long name');
  const job = await plugin.post('/api/jobs', { description });
  const step = await plugin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy', type: 'executing' });
  await plugin.post(`/api/jobs/${job.id}/steps/${step.id}/progress`, { progress: 40 }, 200);

  await page.setViewportSize({ width: 1280, height: 720 });
  await signIn(page);
  const row = jobRow(page, description);
  const owner = row.locator('.owner');
  await expect(owner).toHaveAttribute('title', name);
  // Where the owner's text is drawn (its own box clips it, or not) against the next column's start.
  const drawn = await owner.evaluate((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const text = range.getBoundingClientRect().right;
    const clips = getComputedStyle(el).overflowX !== 'visible';
    return {
      right: clips ? Math.min(text, el.getBoundingClientRect().right) : text,
      next: el.nextElementSibling!.getBoundingClientRect().left,
      cut: text > el.getBoundingClientRect().right,
    };
  });
  expect(drawn.cut, 'the name is longer than its column').toBe(true);
  expect(drawn.right).toBeLessThanOrEqual(drawn.next);

  const bar = row.getByRole('progressbar');
  await expect(bar).toHaveAttribute('aria-valuenow', '40');
  const [outer, label] = await Promise.all([bar.boundingBox(), bar.locator('.pct').boundingBox()]);
  expect(label!.y).toBeGreaterThanOrEqual(outer!.y);
  expect(label!.y + label!.height).toBeLessThanOrEqual(outer!.y + outer!.height);
});

test('on a phone-width screen no page scrolls sideways, and a step keeps its progress bar on its row', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('Migrate vm-database-primary-eu-west-1 to host-17 with storage live migration');
  const job = await admin.post('/api/jobs', { description });
  const step = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy disk one of the database', type: 'executing' });
  await admin.post(`/api/jobs/${job.id}/steps/${step.id}/progress`, { progress: 60 }, 200);
  // A long name widens every select that lists the users (a token's "Acts as").
  await admin.post('/api/users', {
    username: unique('a-plug-in-of-the-storage-team-with-a-long-name').replace(' ', '-'), password: 'plugin-password',
  });

  await page.setViewportSize({ width: 420, height: 800 });
  await signIn(page);
  // How far the page reaches past the screen's right edge, and what reaches there.
  const sideways = async () => {
    const [over, what] = await page.evaluate(() => [
      document.documentElement.scrollWidth - window.innerWidth,
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth
          && (!e.closest('.table') || ['absolute', 'fixed'].includes(getComputedStyle(e).position)))
        .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className}`).join(', '),
    ] as [number, string]);
    if (over > 0) console.log(`past the edge by ${over} px: ${what}`);
    return over;
  };
  const row = jobRow(page, description);
  await row.focus();
  await page.keyboard.press('ArrowRight');
  const listed = row.getByRole('treeitem', { name: /Copy disk one/ });
  await expect(listed.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '60');
  expect(await sideways(), 'the task list is wider than the screen').toBeLessThanOrEqual(0);
  // Nor does the list scroll sideways inside its card: the bar is drawn whole.
  const [card, listedBar] = await Promise.all([
    page.getByRole('region', { name: 'Jobs' }).boundingBox(), listed.getByRole('progressbar').first().boundingBox(),
  ]);
  expect(listedBar!.x + listedBar!.width).toBeLessThanOrEqual(card!.x + card!.width);

  await page.goto(`/jobs/${job.id}`);
  await page.getByTestId('timeline-bar').first().waitFor();
  expect(await sideways(), 'the job detail is wider than the screen').toBeLessThanOrEqual(0);
  await expect(page.locator('.job-facts').getByRole('progressbar')).toHaveAttribute('aria-valuenow', '60');
  // The step's row: status, description and progress bar on one line, inside the screen.
  const stepRow = page.getByTestId('step-row').first().locator('.row');
  const [rowBox, barBox] = await Promise.all([stepRow.boundingBox(), stepRow.getByRole('progressbar').boundingBox()]);
  expect(barBox!.y).toBeGreaterThanOrEqual(rowBox!.y);
  expect(barBox!.y + barBox!.height).toBeLessThanOrEqual(rowBox!.y + rowBox!.height);
  expect(barBox!.x + barBox!.width).toBeLessThanOrEqual(420);

  for (const view of ['Users', 'Roles', 'API tokens', 'Audit log']) {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('heading', { name: view, exact: true }).waitFor();
    await page.locator('table.table').waitFor();
    expect(await sideways(), `${view} is wider than the screen`).toBeLessThanOrEqual(0);
  }
});

test('the first Tab offers "Skip to content", which takes the keyboard past the navigation into the page', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const job = await admin.post('/api/jobs', { description: unique('Skipped to') });
  await signIn(page);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  // Out of sight until focused, and it moves nothing when it appears.
  expect((await skip.boundingBox())!.width).toBeLessThanOrEqual(1);
  const filters = await page.locator('#f-external').boundingBox();
  await page.locator('body').focus();
  await page.keyboard.press('Tab');
  await expect(skip).toBeFocused();
  expect((await skip.boundingBox())!.width).toBeGreaterThan(50);
  expect(await page.locator('#f-external').boundingBox()).toEqual(filters);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/$/);
  await page.keyboard.press('Tab');
  await expect(page.locator('#f-external')).toBeFocused();

  // The same on a job's page: Enter stays on the page, the next Tab lands in it, not in the header.
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('job-status')).toContainText('Running');
  await page.locator('body').focus();
  await page.keyboard.press('Tab');
  await expect(skip).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/jobs/${job.id}$`));
  await page.keyboard.press('Tab');
  const inHeader = await page.evaluate(() => !!document.activeElement?.closest('header'));
  const inMain = await page.evaluate(() => !!document.activeElement?.closest('main'));
  expect(inHeader).toBe(false);
  expect(inMain).toBe(true);
});

/** What the browser does when the user moves to another tab (`hidden`) or back to this one. */
async function setVisibility(page: import('@playwright/test').Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('tabs in the background let go of their event streams, so an eighth tab still loads, and catch up when shown', async ({ page, request }) => {
  // Over plain HTTP/1.1 Chromium keeps at most six connections to a host; every live tab's event
  // stream holds one. The user opens tab after tab, leaving each for the next.
  const admin = api(request, await token(request));
  await signIn(page);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const tabs = [page];
  for (let i = 1; i < 8; i++) {
    await setVisibility(tabs[i - 1], true);
    await expect(tabs[i - 1].getByTestId('connection')).toHaveText('Paused');
    const tab = await page.context().newPage();
    await tab.goto('/');
    await expect(tab.getByTestId('connection')).toHaveText('Live');
    tabs.push(tab);
  }
  const description = unique('Written while tab one was hidden');
  await admin.post('/api/jobs', { description });
  await expect(jobRow(tabs[7], description)).toBeVisible();

  // Back to the first tab: it resumes from its last event and shows what it missed.
  await setVisibility(tabs[7], true);
  await setVisibility(page, false);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  await expect(jobRow(page, description)).toBeVisible();
  await expect(jobRow(page, description)).toContainText('Running');
  for (const tab of tabs.slice(1)) await tab.close();
});

test('a live update leaves a job\'s detail as the person had it: scrolled, focused, the end dialog open', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const job = await admin.post('/api/jobs', { description: unique('Watched job') });
  await addParts(admin, job.id, 100);
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('step-row')).toHaveCount(100);
  await expect(page.getByTestId('connection')).toHaveText('Live');

  // Scrolled down the tree: a new step does not send the page back to the top (the whole page
  // used to leave the document and come back on every update).
  await page.evaluate(() => window.scrollTo(0, 1500));
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBe(1500);
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Late 1', type: 'executing' });
  await expect(page.getByTestId('step-row')).toHaveCount(101);
  expect(await page.evaluate(() => window.scrollY)).toBe(1500);

  // On a step by keyboard: it keeps the focus through the redraw. (New steps go last: the rows
  // before them keep their places.)
  const step = (n: number) => page.getByTestId('step-row').nth(n);
  await step(40).click();
  await page.keyboard.press('ArrowDown');
  await expect(step(41)).toBeFocused();
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Late 2', type: 'executing' });
  await expect(page.getByTestId('step-row')).toHaveCount(102);
  await expect(step(41)).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(step(42)).toBeFocused();

  // Half-way through ending the job: the dialog stays open with what was chosen.
  await page.getByRole('button', { name: 'End job…' }).click();
  await page.getByLabel('End as').selectOption('failed');
  await page.getByLabel('Force').check();
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Late 3', type: 'executing' });
  await expect(page.getByTestId('step-row')).toHaveCount(103);
  await expect(page.getByRole('dialog')).toBeVisible();
  await expect(page.getByLabel('End as')).toHaveValue('failed');
  await expect(page.getByLabel('Force')).toBeChecked();
  await page.getByRole('button', { name: 'Confirm end' }).click();
  await expect(page.getByTestId('job-status')).toContainText('Failed');
  // The outcome stays in words after the job's own change arrives.
  await expect(page.getByRole('status').filter({ hasText: 'The job is now failed.' })).toBeVisible();
  await page.waitForTimeout(500);
  await expect(page.getByRole('status').filter({ hasText: 'The job is now failed.' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Change status…' })).toBeVisible();
  expect((await admin.get(`/api/jobs/${job.id}`)).status).toBe('failed');
});

test("the end dialog works from the keyboard: it opens on its first field, Escape closes it back to its button, and it keeps the status chosen", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const job = await admin.post('/api/jobs', { description: unique('Ended by keyboard') });
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  const open = page.getByRole('button', { name: 'End job…' });
  await open.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('dialog')).toBeVisible();
  await expect(page.getByLabel('End as')).toBeFocused();
  await page.getByLabel('End as').selectOption('failed');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(open).toBeFocused();
  // Opened again, it shows the status it will end the job with (it showed "Finished" and failed it).
  await page.keyboard.press('Enter');
  await expect(page.getByLabel('End as')).toHaveValue('failed');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(open).toBeFocused();
  await page.keyboard.press('Enter');
  await page.getByLabel('End as').selectOption('aborted');
  await page.getByRole('button', { name: 'Confirm end' }).click();
  await expect(page.getByTestId('job-status')).toContainText('Aborted');
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Change status…' })).toBeFocused();
  expect((await admin.get(`/api/jobs/${job.id}`)).status).toBe('aborted');
});

test("a burst of a plug-in's progress reports makes an open job's page and an open tree read the job a few times, not once each, and both end on the last figure", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('Busy reporter');
  const job = await admin.post('/api/jobs', { description });
  const copy = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy', type: 'executing' });
  await signIn(page);
  let reads = 0;
  page.on('request', (r) => { if (/\/sfn\/.*get_job/i.test(r.url())) reads++; });
  for (const [where, from] of [['its page', 0], ['its open row in the list', 50]] as const) {
    if (where === 'its page') {
      await page.goto(`/jobs/${job.id}`);
    } else {
      await page.goto('/');
      await jobRow(page, description).getByRole('button', { name: 'Expand' }).click();
    }
    const bar = page.getByTestId('step-row').getByRole('progressbar');
    await expect(page.getByTestId('step-row')).toHaveCount(1);
    await expect(page.getByTestId('connection')).toHaveText('Live');
    await page.waitForTimeout(500);
    reads = 0;
    // Forty reports as fast as one client sends them: each used to make a read of the whole job
    // (a 2,000-step job's page read it 29 times a second, 18 MB a second). Reads now begin at most
    // one each 300 ms, the first at once and the last after the last report.
    const t0 = Date.now();
    for (let p = from + 1; p <= from + 40; p++) {
      await admin.post(`/api/jobs/${job.id}/steps/${copy.id}/progress`, { progress: p }, 200);
    }
    const ms = Date.now() - t0;
    await expect(bar, where).toHaveAttribute('aria-valuenow', String(from + 40));
    await page.waitForTimeout(700);
    expect(reads, `${where}: reads of the job for 40 reports in ${ms} ms`).toBeLessThanOrEqual(Math.ceil(ms / 300) + 3);
    expect(reads, where).toBeGreaterThanOrEqual(1);
  }
});

test('in the jobs list a row keeps the keyboard focus and its open tree through a live change, and only its own tree reloads', async ({ page, request }) => {
  const admin = api(request, await token(request));
  await signIn(page);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const [first, second] = [unique('Kept row'), unique('Other open row')];
  const job = await admin.post('/api/jobs', { description: first });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy', type: 'executing' });
  const other = await admin.post('/api/jobs', { description: second });
  await admin.post(`/api/jobs/${other.id}/steps`, { description: 'Wait', type: 'executing' });
  const row = jobRow(page, first);
  const otherRow = jobRow(page, second);
  await expect(row).toBeVisible();
  await otherRow.getByRole('button', { name: 'Expand' }).click();
  await expect(otherRow.getByTestId('step-row')).toHaveCount(1);

  // Expanding by keyboard keeps the focus on the row (it used to fall to the page).
  await row.evaluate((e) => { (e as any).marked = true; });
  await row.focus();
  await page.keyboard.press('ArrowRight');
  await expect(row.getByTestId('step-row')).toHaveCount(1);
  await expect(row).toBeFocused();

  // A step in one job reloads that job's tree alone.
  let loads = 0;
  page.on('request', (r) => { if (/\/sfn\/.*get_job/i.test(r.url())) loads++; });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Verify', type: 'executing' });
  await expect(row.getByTestId('step-row')).toHaveCount(2);
  await page.waitForTimeout(500);
  expect(loads).toBe(1);

  // The job fails: the same row says so in place, focused and still open.
  await admin.post(`/api/jobs/${job.id}/end`, { status: 'failed' }, 200);
  await expect(row).toContainText('Failed');
  await expect(row.getByTestId('step-row').first()).toContainText('Failed');
  await expect(row).toBeFocused();
  await expect(row).toHaveAttribute('aria-expanded', 'true');
  expect(await row.evaluate((e) => (e as any).marked === true)).toBe(true);
  await page.keyboard.press('ArrowLeft');
  await expect(row).toHaveAttribute('aria-expanded', 'false');
});

test("a running job's progress bar in the list moves as its steps report progress", async ({ page, request }) => {
  const admin = api(request, await token(request));
  await signIn(page);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const description = unique('Progressing job');
  const job = await admin.post('/api/jobs', { description });
  const copy = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy', type: 'executing' });
  const check = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Check', type: 'executing' });
  const row = jobRow(page, description);
  await expect(row).toBeVisible();
  await expect(row.getByRole('progressbar')).toHaveCount(0);
  await row.evaluate((e) => { (e as any).marked = true; });
  // A step's progress comes as a step event; the job's own figure (the mean of its top-level
  // steps) used to stay as the page first showed it until the job ended or the page was reloaded.
  await admin.post(`/api/jobs/${job.id}/steps/${copy.id}/progress`, { progress: 40 }, 200);
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '20');
  await admin.post(`/api/jobs/${job.id}/steps/${copy.id}/end`, { status: 'finished' }, 200);
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '50');
  // A sub-step's progress moves it through its parent: Check, without progress of its own, rolls
  // up to 50, the job to (100 + 50) / 2, as its page shows (the list used to count Check as 0).
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Check disk', type: 'executing', parent_id: check.id, progress: 50 });
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '75');
  const detail = await page.context().newPage();
  await detail.goto(`/jobs/${job.id}`);
  await expect(detail.locator('.job-facts').getByRole('progressbar')).toHaveAttribute('aria-valuenow', '75');
  await detail.close();
  await page.bringToFront();
  // In place: the same row.
  expect(await row.evaluate((e) => (e as any).marked === true)).toBe(true);
  await admin.post(`/api/jobs/${job.id}/end`, { status: 'finished' }, 200);
  await expect(row.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
});

test("a live update changes a job's step rows in place, so a click on its tree lands while steps keep coming", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const job = await admin.post('/api/jobs', { description: unique('Busy job') });
  await addParts(admin, job.id, 250);
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('step-row')).toHaveCount(200);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const more = page.getByTestId('more-steps');
  const mark = async () => {
    for (const element of [page.getByTestId('step-row').first(), more.getByRole('button'), page.getByTestId('more-bars').getByRole('button')]) {
      await element.evaluate((e) => { (e as any).marked = true; });
    }
  };
  const marked = () => Promise.all([page.getByTestId('step-row').first(), more.getByRole('button'), page.getByTestId('more-bars').getByRole('button')]
    .map((element) => element.evaluate((e) => (e as any).marked === true)));
  await mark();
  const first = (await admin.get(`/api/jobs/${job.id}/steps`)).items[0];
  await admin.post(`/api/jobs/${job.id}/steps/${first.id}/progress`, { progress: 30 }, 200);
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Late', type: 'executing' });
  await expect(more).toContainText('200 of 251 steps shown');
  await expect(page.getByTestId('step-row').first().getByRole('progressbar')).toHaveAttribute('aria-valuenow', '30');
  // The same elements, changed in place (each update used to draw the tree and its buttons anew).
  expect(await marked()).toEqual([true, true, true]);

  // A person's click — press, a moment, release — while a plug-in adds a step every 50 ms: a
  // button drawn anew between the press and the release never got the click.
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing && i < 200; i++) {
      await admin.post(`/api/jobs/${job.id}/steps`, { description: `Later ${i}`, type: 'executing' });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    await more.getByRole('button').scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
    const box = (await more.getByRole('button').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.waitForTimeout(300);
    await page.mouse.up();
    await expect.poll(() => page.getByTestId('step-row').count(), { timeout: 3000 }).toBeGreaterThan(250);
  } finally {
    writing = false;
    await writer;
  }
});

test('a job removed while its detail is open says so, keeps its last state and offers no actions', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('Removed job');
  const job = await admin.post('/api/jobs', { description });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'One', type: 'executing' });
  await admin.post(`/api/jobs/${job.id}/end`, { status: 'finished' }, 200);
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('step-row')).toHaveCount(1);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  await expect(page.getByRole('button', { name: 'Change status…' })).toBeVisible();
  await admin.post('/api/commands/CleanupJobs', { filter: { q: description } }, 202);
  // It used to show "job … not found" above the job, its actions still offered.
  await expect(page.getByTestId('job-removed')).toContainText('This job has been removed');
  await expect(page.getByRole('button', { name: 'Change status…' })).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('step-row')).toHaveCount(1);
});

test('what a plug-in or an administrator says as they end a step or a job shows as its outcome', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('outcome');
  const job = await admin.post('/api/jobs', { description });
  const copy = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy disks', type: 'executing' });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Register', type: 'finalizing' });
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('job-outcome')).toHaveText('—');
  await expect(page.getByTestId('step-outcome')).toHaveCount(0);

  // The plug-in's reason appears under the step's row, live.
  await admin.post(`/api/jobs/${job.id}/steps/${copy.id}/end`,
    { status: 'failed', fail_job: false, result: 'no space left on datastore-2' }, 200);
  const copyRow = page.getByTestId('step-row').filter({ hasText: 'Copy disks' });
  await expect(copyRow.getByTestId('step-outcome')).toHaveText('no space left on datastore-2');
  await expect(page.getByTestId('step-outcome')).toHaveCount(1);

  // The administrator's reason, typed in the end dialog, becomes the job's outcome.
  await page.getByRole('button', { name: 'End job…' }).click();
  await page.getByLabel('End as').selectOption('aborted');
  await page.getByLabel('Reason (optional)').fill('  datastore-2 is being replaced  ');
  await page.getByRole('button', { name: 'Confirm end' }).click();
  await expect(page.getByTestId('job-status')).toContainText('Aborted');
  await expect(page.getByTestId('job-outcome')).toHaveText('datastore-2 is being replaced');
  expect((await admin.get(`/api/jobs/${job.id}`)).result).toBe('datastore-2 is being replaced');
});

test("on a job's page a long step description wraps to be read whole, where the list cuts it short", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('wrap');
  const job = await admin.post('/api/jobs', { description });
  const long = 'Copy disk data-volume-of-the-reporting-database.qcow2 from datastore-2 to the backup domain';
  await admin.post(`/api/jobs/${job.id}/steps`, { description: long, type: 'executing' });
  await page.setViewportSize({ width: 1280, height: 800 });
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  const desc = page.getByTestId('step-row').locator('.desc');
  await expect(desc).toHaveText(long);
  const fits = await desc.evaluate((el) => ({ cut: el.scrollWidth > el.clientWidth, height: el.clientHeight }));
  expect(fits.cut).toBe(false);
  expect(fits.height).toBeGreaterThan(30);

  // In the list the same step keeps to one line, cut short, with the whole text in its title.
  await page.goto(`/?q=${encodeURIComponent(description)}`);
  await jobRow(page, description).focus();
  await page.keyboard.press('ArrowRight');
  const inList = page.getByTestId('step-row').locator('.desc');
  await expect(inList).toHaveAttribute('title', long);
  const listed = await inList.evaluate((el) => ({ cut: el.scrollWidth > el.clientWidth, height: el.clientHeight }));
  expect(listed.cut).toBe(true);
  expect(listed.height).toBeLessThan(30);
});

test("a job whose plug-in went silent past its lease says why it is unknown, on its page, live", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const description = unique('lease');
  const job = await admin.post('/api/jobs', { description, timeout_seconds: 2 });
  await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy disks', type: 'executing' });
  await signIn(page);
  await page.goto(`/jobs/${job.id}`);
  await expect(page.getByTestId('job-lease')).toHaveText('2 s, renewed by each change or heartbeat from its plug-in');
  await expect(page.getByTestId('job-outcome')).toHaveText('—');

  // No word from the plug-in: the engine's sweep (every 5 s) makes the job unknown, and the page says why.
  await expect(page.getByTestId('job-status')).toContainText('Unknown', { timeout: 15_000 });
  await expect(page.getByTestId('job-outcome')).toContainText('sent no word within its lease of 2 s');
  // In the list, its status says the same to a pointer resting on it.
  await page.goto(`/?q=${encodeURIComponent(description)}`);
  await expect(jobRow(page, description).locator('.status').first())
    .toHaveAttribute('title', /sent no word within its lease of 2 s/);
  await page.goto(`/jobs/${job.id}`);

  // Once its plug-in ends it after all, the outcome no longer speaks of the lapse.
  await admin.post(`/api/jobs/${job.id}/end`, { status: 'finished' }, 200);
  await expect(page.getByTestId('job-status')).toContainText('Finished');
  await expect(page.getByTestId('job-outcome')).toHaveText('—');
});
