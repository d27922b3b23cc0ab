import { readFileSync } from 'fs';
import { test, expect } from './fixtures';
import { api, jobRow, signIn, token, unique } from './helpers';

test('a bulk end by the current filter shows a preview count, then ends the matching jobs', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const tag = unique('bulk').replace(' ', '-');
  const a = await admin.post('/api/jobs', { description: `${tag} one` });
  const b = await admin.post('/api/jobs', { description: `${tag} two` });
  await signIn(page);
  await page.getByLabel('Text').fill(tag);
  await page.getByLabel('Text').press('Enter');
  await expect(page).toHaveURL(new RegExp(`q=${tag}`));
  await expect(page.getByTestId('job-row')).toHaveCount(2);

  await page.getByRole('button', { name: 'Bulk actions…' }).click();
  await page.getByLabel('Action', { exact: true }).selectOption('end');
  await page.getByLabel('End as').selectOption('aborted');
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('bulk-preview')).toHaveText('2 job(s) match.');
  await page.getByRole('button', { name: 'Run on 2 job(s)' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Started' })).toBeVisible();

  // The list follows live.
  await expect(jobRow(page, `${tag} one`)).toContainText('Aborted');
  await expect(jobRow(page, `${tag} two`)).toContainText('Aborted');
  expect((await admin.get(`/api/jobs/${a.id}`)).status).toBe('aborted');
  expect((await admin.get(`/api/jobs/${b.id}`)).status).toBe('aborted');

  // Who ended them stays on record after the command's own job is cleared away.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('row').filter({ hasText: tag }).first())
    .toContainText('jobs ended (Ended 2 job(s) as aborted');
  // And how long it stays there.
  const { audit_retention_days: days } = (await admin.get('/api/capabilities')).limits;
  await expect(page.getByTestId('audit-kept'))
    .toHaveText(`Records are kept for ${days} day${days === 1 ? '' : 's'}, then deleted.`);
});

test('an export run from the UI offers its file on its job\'s page, and the file holds the matching jobs', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const tag = unique('export').replace(' ', '-');
  await admin.post('/api/jobs', { description: `${tag} alpha` });
  await admin.post('/api/jobs', { description: `${tag} beta` });
  await signIn(page);
  await page.goto(`/?q=${tag}`);
  await expect(page.getByTestId('job-row')).toHaveCount(2);

  await page.getByRole('button', { name: 'Bulk actions…' }).click();
  await page.getByLabel('Action', { exact: true }).selectOption('export-csv');
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('bulk-preview')).toHaveText('2 job(s) match.');
  await page.getByRole('button', { name: 'Run on 2 job(s)' }).click();
  await page.getByRole('link', { name: 'its own job' }).click();

  // The command's job ends by itself; its outcome says what it did and offers the file.
  await expect(page.getByTestId('job-status')).toContainText('Finished');
  const outcome = page.getByTestId('job-outcome');
  await expect(outcome).toContainText('Exported 2 job(s)');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    outcome.getByRole('link', { name: 'Download the file' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^stepwise-export-.*\.csv$/);
  const text = readFileSync(await download.path(), 'utf8');
  expect(text).toContain(`${tag} alpha`);
  expect(text).toContain(`${tag} beta`);
});

test('the bulk panel closed and opened again shows the action it will run', async ({ page }) => {
  await signIn(page);
  const toggle = page.getByRole('button', { name: 'Bulk actions…' });
  await toggle.click();
  await page.getByLabel('Action', { exact: true }).selectOption('cleanup');
  await expect(page.getByLabel('Ended at least (minutes) ago')).toBeVisible();
  await toggle.click();
  await expect(page.getByLabel('Action', { exact: true })).toHaveCount(0);
  // The panel is made anew: it used to show "End matching running jobs" while Run would delete.
  await toggle.click();
  await expect(page.getByLabel('Action', { exact: true })).toHaveValue('cleanup');
  await expect(page.getByLabel('Ended at least (minutes) ago')).toBeVisible();
  await page.getByLabel('Action', { exact: true }).selectOption('end');
  await page.getByLabel('End as').selectOption('finished');
  await toggle.click();
  await toggle.click();
  await expect(page.getByLabel('Action', { exact: true })).toHaveValue('end');
  await expect(page.getByLabel('End as')).toHaveValue('finished');
});
