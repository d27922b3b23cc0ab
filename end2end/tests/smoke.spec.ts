import { test, expect } from './fixtures';

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
