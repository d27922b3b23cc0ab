import { test, expect } from './fixtures';
import { api, signIn, token, unique } from './helpers';

// Retention settings are one for the whole server: this test only lengthens them, and puts them back.
test('an administrator changes how long auto-cleared jobs are kept, by keyboard, and puts it back', async ({ page, request }) => {
  const bearer = await token(request);
  const headers = { Authorization: `Bearer ${bearer}` };
  expect((await request.delete('/api/settings/retention', { headers })).status()).toBe(200);
  const configured = await api(request, bearer).get('/api/settings/retention');
  expect(configured.source).toBe('configuration');

  await signIn(page);
  await page.getByRole('link', { name: 'Settings' }).click();
  const finished = page.getByLabel('Keep finished jobs for');
  const unsuccessful = page.getByLabel('Keep failed or aborted jobs for');
  const interval = page.getByLabel('Look for jobs to delete every');
  await expect(finished).toHaveValue(String(configured.finished_minutes));
  await expect(unsuccessful).toHaveValue(String(configured.unsuccessful_minutes));
  await expect(interval).toHaveValue(String(configured.interval_seconds));
  await expect(page.getByTestId('retention-source')).toContainText("server's configuration");

  // Out of range: the browser keeps the form from being sent, and nothing changes.
  await interval.fill('0');
  await interval.press('Enter');
  expect(await interval.evaluate((el: HTMLInputElement) => el.validity.rangeUnderflow)).toBe(true);
  expect((await api(request, bearer).get('/api/settings/retention')).source).toBe('configuration');

  await finished.fill('30');
  await unsuccessful.fill('90');
  await interval.fill('900');
  await interval.press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Saved' })).toBeVisible();
  await expect(page.getByTestId('retention-source')).toContainText('Set by admin');
  const stored = await api(request, bearer).get('/api/settings/retention');
  expect([stored.source, stored.finished_minutes, stored.unsuccessful_minutes, stored.interval_seconds])
    .toEqual(['stored', 30, 90, 900]);
  await page.reload();
  await expect(page.getByLabel('Keep finished jobs for')).toHaveValue('30');

  await page.getByRole('button', { name: "Use the server's configuration" }).click();
  await expect(page.getByRole('status').filter({ hasText: "Back to the server's configuration" })).toBeVisible();
  await expect(page.getByTestId('retention-source')).toContainText("server's configuration");
  await expect(finished).toHaveValue(String(configured.finished_minutes));
  expect((await api(request, bearer).get('/api/settings/retention')).source).toBe('configuration');
});

test('a viewer sees the retention settings but cannot change them', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('viewer').replace(' ', '-');
  const user = await admin.post('/api/users', { username: name, password: 'viewer-password' });
  await admin.put(`/api/users/${user.id}/roles/TaskViewer`);
  await signIn(page, name, 'viewer-password');
  await expect(page.getByRole('link', { name: 'Settings' })).toHaveCount(0);
  await page.goto('/settings');
  await expect(page.getByLabel('Keep finished jobs for')).toBeDisabled();
  await expect(page.getByText('Changing these needs the MANAGE_TASKS permission.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save' })).toHaveCount(0);
});

test('the settings page says how long the server keeps events, audit records and exported files', async ({ page, request }) => {
  const caps = await api(request, await token(request)).get('/api/capabilities');
  const { event_replay_window_hours: events, audit_retention_days: audit, export_retention_hours: exports } = caps.limits;
  await signIn(page);
  await page.goto('/settings');
  const kept = page.getByRole('region', { name: 'Kept by the server' });
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  await expect(kept.locator('dt')).toHaveText(['Live events', 'Audit log', 'Exported files']);
  await expect(kept.locator('dd')).toHaveText([
    `${plural(events, 'hour')} — a Tasks pane away longer reloads what it shows`,
    plural(audit, 'day'),
    `${plural(exports, 'hour')} — then the file is deleted`,
  ]);
});
