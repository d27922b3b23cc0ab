import { test, expect } from './fixtures';
import { signIn } from './helpers';

test('the page loads, the wasm app mounts and a server function reads PostgreSQL', async ({ page, request }) => {
  await page.goto('/');
  // Not signed in: the sign-in page, served by the wasm app.
  await expect(page.getByRole('heading', { name: 'Sign in to Stepwise' })).toBeVisible();
  // A server function round-trips to the database.
  const status = await request.post('/sfn/status');
  expect(status.status()).toBe(200);
  expect((await status.json()).database).toContain('PostgreSQL');
});

test('a client-side route is served the app, not a 404', async ({ page }) => {
  const response = await page.goto('/jobs/some/deep/link');
  expect(response?.status()).toBe(200);
  await expect(page.getByRole('heading', { name: 'Sign in to Stepwise' })).toBeVisible();
});

test('the navigation\'s words typed as an address lead to its pages, and an unknown one back to the jobs', async ({ page }) => {
  await signIn(page);
  for (const [typed, lands, heading] of [
    ['/users', '/admin/users', 'Users'],
    ['/roles', '/admin/roles', 'Roles'],
    ['/tokens', '/admin/tokens', 'API tokens'],
    ['/audit', '/admin/audit', 'Audit log'],
  ]) {
    await page.goto(typed);
    await expect(page).toHaveURL(new RegExp(`${lands}$`));
    await expect(page.getByRole('heading', { name: heading, exact: true })).toBeVisible();
  }
  for (const typed of ['/jobs', '/tasks']) {
    await page.goto(typed);
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByRole('button', { name: 'Bulk actions…' })).toBeVisible();
  }

  await page.goto('/nowhere');
  await expect(page.getByTestId('no-such-page')).toContainText('There is no such page.');
  await page.getByRole('link', { name: 'Go to the jobs' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('button', { name: 'Bulk actions…' })).toBeVisible();
});
