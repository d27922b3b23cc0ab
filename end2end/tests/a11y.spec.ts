import AxeBuilder from '@axe-core/playwright';
import { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import { addParts, api, jobRow, signIn, token, unique } from './helpers';

// axe-core, the checker behind Lighthouse's and most browsers' accessibility audits, on every page
// with what it shows: each status colour, progress bars, an open tree with "Show more", an empty
// list, in the light and the dark scheme. It found link text and bars below 4.5:1 contrast, white on
// the dark scheme's light buttons, "No jobs" and "Show more" items inside the trees' lists of tree
// items, and table columns without a header.
async function audit(page: Page, where: string) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const found = violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
    v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n')[1]?.trim()}`).join('; '));
  expect(found, `accessibility problems on ${where}`).toEqual([]);
}

for (const colorScheme of ['light', 'dark'] as const) {
  test(`every page passes axe-core's checks in the ${colorScheme} scheme`, async ({ page, request }) => {
    // Each audit reads the whole page, hundreds of rows on some: seconds each on a slow machine.
    test.setTimeout(180_000);
    await page.emulateMedia({ colorScheme });
    const admin = api(request, await token(request));
    const description = unique('Audited job');
    const job = await admin.post('/api/jobs', { description });
    const [copy, check] = [
      await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Copy', type: 'executing' }),
      await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Check', type: 'validating' }),
    ];
    await admin.post(`/api/jobs/${job.id}/steps/${copy.id}/progress`, { progress: 60 }, 200);
    await admin.post(`/api/jobs/${job.id}/steps/${check.id}/end`, { status: 'finished' }, 200);
    const many = await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Many parts', type: 'executing' });
    const big = await admin.post('/api/jobs', { description: unique('Audited big job') });
    await addParts(admin, big.id, 201);
    await admin.post(`/api/jobs/${job.id}/steps`, { description: 'Part', type: 'executing', parent_id: many.id });
    const failed = await admin.post('/api/jobs', { description: unique('Audited failed job') });
    await admin.post(`/api/jobs/${failed.id}/end`, { status: 'failed' }, 200);
    const aborted = await admin.post('/api/jobs', { description: unique('Audited aborted job') });
    await admin.post(`/api/jobs/${aborted.id}/end`, { status: 'aborted' }, 200);
    const finished = await admin.post('/api/jobs', { description: unique('Audited finished job') });
    await admin.post(`/api/jobs/${finished.id}/end`, { status: 'finished' }, 200);

    await page.goto('/');
    await expect(page.getByLabel('User name')).toBeVisible();
    await audit(page, 'the sign-in page');
    await signIn(page);

    await expect(jobRow(page, description)).toBeVisible();
    await expect(page.getByTestId('connection')).toHaveText('Live');
    await jobRow(page, description).getByRole('button', { name: 'Expand' }).click();
    await expect(jobRow(page, description).getByTestId('step-row')).toHaveCount(4);
    const bigRow = page.getByTestId('job-row').filter({ has: page.getByRole('link', { name: big.description }) });
    await bigRow.getByRole('button', { name: 'Expand' }).click();
    await expect(bigRow.getByTestId('more-steps')).toBeVisible();
    await audit(page, 'the jobs list with two open trees');

    await page.getByRole('button', { name: 'Bulk actions…' }).click();
    await audit(page, 'the jobs list with its bulk actions open');

    await page.goto(`/?q=${encodeURIComponent(unique('nothing like this'))}`);
    await expect(page.getByText('No jobs match these filters.')).toBeVisible();
    await audit(page, 'an empty jobs list');

    await page.goto(`/jobs/${job.id}`);
    await expect(page.getByTestId('step-row')).toHaveCount(4);
    await audit(page, "a job's page");
    await page.goto(`/jobs/${big.id}`);
    await expect(page.getByTestId('more-steps')).toBeVisible();
    await audit(page, "a 201-step job's page");

    for (const [path, heading] of [
      ['/users', 'Users'], ['/roles', 'Roles'], ['/tokens', 'API tokens'], ['/audit', 'Audit log'],
      ['/settings', 'Settings'], ['/account', 'Your account'],
    ]) {
      await page.goto(path);
      await expect(page.getByRole('heading', { name: heading }).first()).toBeVisible();
      await page.waitForLoadState('networkidle');
      await audit(page, path);
    }
  });
}
