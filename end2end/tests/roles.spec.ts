import { test, expect } from './fixtures';
import { api, signIn, token, unique } from './helpers';

test('an administrator changes a role\'s permissions and deletes it once nobody holds it; shipped roles stay', async ({ page, request }) => {
  const bearer = await token(request);
  const admin = api(request, bearer);
  const role = unique('Ops').replace(' ', '-');
  await admin.post('/api/roles', { name: role, action_groups: ['VIEW_TASKS'] });
  const holder = await admin.post('/api/users', { username: unique('holder').replace(' ', '-'), password: 'holder-password' });
  await admin.put(`/api/users/${holder.id}/roles/${role}`);

  await signIn(page);
  await page.getByRole('link', { name: 'Roles' }).click();
  await expect(page.locator('[data-testid=role-row][data-role="SuperUser"]')).toContainText('cannot be changed');
  const row = page.locator(`[data-testid=role-row][data-role="${role}"]`);
  const shippedColumn = async () => (await page.getByRole('columnheader', { name: 'Shipped' }).boundingBox())!.x;
  const before = await shippedColumn();
  await row.getByRole('button', { name: `Change the permissions of ${role}` }).focus();
  await page.keyboard.press('Enter');
  const form = row.getByRole('form', { name: `Permissions of ${role}` });
  // The keyboard lands in the form it opened, and no column moves.
  await expect(form.getByLabel('INJECT_EXTERNAL_TASKS')).toBeFocused();
  expect(await shippedColumn()).toBe(before);
  await form.getByLabel('MANAGE_TASKS').check();
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Permissions changed.' })).toBeVisible();
  await expect(row.locator('td').nth(1)).toHaveText('MANAGE_TASKS, VIEW_TASKS');
  const roles = await admin.get('/api/roles');
  expect(roles.items.find((r: { name: string }) => r.name === role).action_groups).toEqual(['MANAGE_TASKS', 'VIEW_TASKS']);

  // Held by a user: refused in words that say what to do.
  await row.getByRole('button', { name: 'Delete…' }).click();
  await expect(row.getByRole('button', { name: `Delete role ${role}` })).toBeFocused();
  expect(await shippedColumn()).toBe(before);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('alert').filter({ hasText: 'take it from them first' })).toBeVisible();
  await request.delete(`/api/users/${holder.id}/roles/${role}`, { headers: { Authorization: `Bearer ${bearer}` } });
  await row.getByRole('button', { name: 'Delete…' }).click();
  await row.getByRole('button', { name: `Delete role ${role}` }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Role deleted.' })).toBeVisible();
  await expect(row).toHaveCount(0);
});
