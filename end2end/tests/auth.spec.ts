import { test, expect } from './fixtures';
import { ADMIN, PASSWORD, api, signIn, token, unique } from './helpers';

test('signing in and out', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong');
  await signIn(page);
  await expect(page.getByTestId('connection')).toHaveText('Live');
  await page.reload();
  await expect(page.getByTestId('signed-in-user')).toHaveText(ADMIN);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Stepwise' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Sign in to Stepwise' })).toBeVisible();
});

test('an administrator gives a user ExternalTasksCreator in the UI and its token can then add a job', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('plugin').replace(' ', '-');
  await admin.post('/api/users', { username: name, password: 'plugin-password' });
  const pluginToken = await token(request, name, 'plugin-password');
  const refused = await request.post('/api/jobs', { headers: { Authorization: `Bearer ${pluginToken}` }, data: { description: 'x' } });
  expect(refused.status()).toBe(403);

  await signIn(page);
  await page.getByRole('link', { name: 'Users' }).click();
  const row = page.locator(`[data-testid=user-row][data-username="${name}"]`);
  await row.getByLabel(`Give ${name} a role`).selectOption('ExternalTasksCreator');
  // The role's chip shows once the change is saved (the select's own options name it sooner).
  await expect(row.getByRole('button', { name: `Take ExternalTasksCreator from ${name}` })).toBeVisible();

  const allowed = await request.post('/api/jobs', { headers: { Authorization: `Bearer ${pluginToken}` }, data: { description: 'from the plug-in' } });
  expect(allowed.status()).toBe(201);
  void PASSWORD;
});

test('on the Users page the keyboard stays where it was after an action redraws the table', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('keyboard').replace(' ', '-');
  await admin.post('/api/users', { username: name, password: 'keyboard-password' });
  await signIn(page);
  await page.getByRole('link', { name: 'Users' }).click();
  const row = page.locator(`[data-testid=user-row][data-username="${name}"]`);
  const roleSelect = row.getByLabel(`Give ${name} a role`);
  await roleSelect.focus();
  await roleSelect.selectOption('TaskViewer');
  await expect(row.getByRole('button', { name: `Take TaskViewer from ${name}` })).toBeVisible();
  // The table was drawn again with the new role: the focus is back on the row's role list (it
  // used to fall to the page, and the next Tab started again at "Skip to content").
  await expect(roleSelect).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(row.getByRole('button', { name: 'Set password…' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(row.getByRole('button', { name: 'Disable' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(row).toContainText('Disabled');
  await expect(row.getByRole('button', { name: 'Enable' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(row).toContainText('Active');
  await expect(row.getByRole('button', { name: 'Disable' })).toBeFocused();
});

test('an administrator sets a user\'s password from the Users page, by keyboard, and the user signs in with it', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('forgetful').replace(' ', '-');
  await admin.post('/api/users', { username: name, password: 'the-old-password' });

  await signIn(page);
  await page.getByRole('link', { name: 'Users' }).click();
  const row = page.locator(`[data-testid=user-row][data-username="${name}"]`);
  const roleSelect = row.getByLabel(`Give ${name} a role`);
  const closed = await roleSelect.boundingBox();
  await row.getByRole('button', { name: 'Set password…' }).press('Enter');
  const field = row.getByLabel(`New password for ${name}`);
  await expect(field).toBeFocused();
  // The open form takes no room from the other columns: nothing moves.
  expect(await roleSelect.boundingBox()).toEqual(closed);
  // Too short: refused in words, and the field stays open with what was typed.
  await page.keyboard.type('short');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('alert')).toContainText('8 to 1024 characters');
  await expect(field).toHaveValue('short');
  await field.fill('the-new-password');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Password changed.' })).toBeVisible();
  await expect(row.getByRole('button', { name: 'Set password…' })).toBeVisible();

  const refused = await request.post('/api/auth/token', { form: { grant_type: 'password', username: name, password: 'the-old-password' } });
  expect(refused.status()).toBe(400);
  await token(request, name, 'the-new-password');
});

test('a user without administration rights changes their own password from their account page', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('viewer').replace(' ', '-');
  const user = await admin.post('/api/users', { username: name, password: 'first-password' });
  await admin.put(`/api/users/${user.id}/roles/TaskViewer`);

  await signIn(page, name, 'first-password');
  await page.getByTestId('signed-in-user').click();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();
  const form = page.getByRole('form', { name: 'Change your password' });

  await form.getByLabel('Current password').fill('not-my-password');
  await form.getByLabel('New password', { exact: true }).fill('second-password');
  await form.getByLabel('New password, again').fill('second-password');
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText('is not your current password');

  await form.getByLabel('Current password').fill('first-password');
  await form.getByLabel('New password, again').fill('second-passwort');
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText('differ');

  await form.getByLabel('New password, again').fill('second-password');
  await form.getByLabel('New password, again').press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Your password has been changed' })).toBeVisible();
  await expect(form.getByLabel('Current password')).toHaveValue('');

  const old = await request.post('/api/auth/token', { form: { grant_type: 'password', username: name, password: 'first-password' } });
  expect(old.status()).toBe(400);
  await token(request, name, 'second-password');
});

test('the engine\'s own user is shown as built-in, with nothing to change, and cannot own an API token', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Users' }).click();
  const engine = page.locator('[data-testid=user-row][data-username="stepwise-engine"]');
  await expect(engine).toContainText('Built-in, cannot sign in');
  await expect(engine.getByRole('button')).toHaveCount(0);
  await expect(engine.getByRole('combobox')).toHaveCount(0);
  // Another user's row still offers its actions.
  const admin = page.locator(`[data-testid=user-row][data-username="${ADMIN}"]`);
  await expect(admin.getByRole('button', { name: 'Set password…' })).toBeVisible();

  await page.getByRole('link', { name: 'API tokens' }).click();
  const owner = page.getByLabel('Acts as');
  await expect(owner.locator('option', { hasText: ADMIN })).toHaveCount(1);
  await expect(owner.locator('option', { hasText: 'stepwise-engine' })).toHaveCount(0);
});

test("the Users page does not offer what the server refuses on one's own row: disabling oneself, taking one's SuperUser", async ({ page, request }) => {
  const admin = api(request, await token(request));
  const name = unique('deputy').replace(' ', '-');
  const deputy = await admin.post('/api/users', { username: name, password: 'deputy-password' });
  await admin.put(`/api/users/${deputy.id}/roles/SuperUser`);
  await signIn(page);
  await page.getByRole('link', { name: 'Users' }).click();
  const mine = page.locator('[data-testid=user-row][data-username="admin"]');
  const theirs = page.locator(`[data-testid=user-row][data-username="${name}"]`);
  await expect(theirs.getByRole('button', { name: `Take SuperUser from ${name}` })).toBeVisible();
  await expect(theirs.getByRole('button', { name: 'Disable' })).toBeVisible();
  await expect(mine).toContainText('SuperUser');
  await expect(mine.getByRole('button', { name: 'Set password…' })).toBeVisible();
  await expect(mine.getByRole('button', { name: 'Take SuperUser from admin' })).toHaveCount(0);
  await expect(mine.getByRole('button', { name: 'Disable' })).toHaveCount(0);
});

test('signing out in one tab sends the other tabs to sign in', async ({ page }) => {
  await signIn(page);
  const other = await page.context().newPage();
  await other.goto('/');
  await expect(other.getByTestId('connection')).toHaveText('Live');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Stepwise' })).toBeVisible();
  // The server ends the other tab's event stream with its session; coming back is refused, and
  // the tab asks who is signed in: nobody.
  await expect(other.getByRole('heading', { name: 'Sign in to Stepwise' })).toBeVisible({ timeout: 15_000 });
  await other.close();
});

test('a user whose right to view tasks is taken away while the page is open is told there are no live updates', async ({ page, request }) => {
  const bearer = await token(request);
  const admin = api(request, bearer);
  const name = unique('viewer').replace(' ', '-');
  const user = await admin.post('/api/users', { username: name, password: 'viewer-password' });
  await admin.put(`/api/users/${user.id}/roles/TaskViewer`);
  await signIn(page, name, 'viewer-password');
  await expect(page.getByTestId('connection')).toHaveText('Live');
  const detached = await request.delete(`/api/users/${user.id}/roles/TaskViewer`, {
    headers: { Authorization: `Bearer ${bearer}` },
  });
  expect(detached.status()).toBe(200);
  await expect(page.getByTestId('connection')).toHaveText('No live updates', { timeout: 15_000 });
  // It stays so (no stream is tried again), and the user is still signed in.
  await page.waitForTimeout(3_000);
  await expect(page.getByTestId('connection')).toHaveText('No live updates');
  await expect(page.getByTestId('signed-in-user')).toHaveText(name);
});
