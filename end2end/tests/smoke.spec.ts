import { test, expect } from './fixtures';

test('the page loads, the wasm app mounts and a server function reads PostgreSQL', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Stepwise', level: 1 })).toBeVisible();
  // server_status() round-trips to the database and reports its version.
  await expect(page.getByTestId('server-status')).toContainText('PostgreSQL');
});

test('a client-side route is served the app, not a 404', async ({ page }) => {
  const response = await page.goto('/jobs/some/deep/link');
  expect(response?.status()).toBe(200);
  await expect(page.getByRole('heading', { name: 'Stepwise', level: 1 })).toBeVisible();
});
