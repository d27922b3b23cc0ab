import { APIRequestContext, Page, expect } from '@playwright/test';

export const ADMIN = 'admin';
export const PASSWORD = process.env.STEPWISE_E2E_PASSWORD ?? 'admin-password';

/** A bearer token for `user` from the token endpoint. */
export async function token(request: APIRequestContext, user = ADMIN, password = PASSWORD): Promise<string> {
  const r = await request.post('/api/auth/token', {
    form: { grant_type: 'password', username: user, password },
  });
  expect(r.status(), await r.text()).toBe(200);
  return (await r.json()).access_token;
}

/** A REST client acting with a token. */
export function api(request: APIRequestContext, bearer: string) {
  const headers = { Authorization: `Bearer ${bearer}` };
  return {
    async post(path: string, data: unknown, status = 201) {
      const r = await request.post(path, { headers, data });
      expect(r.status(), await r.text()).toBe(status);
      return r.json();
    },
    async put(path: string, status = 200) {
      const r = await request.put(path, { headers });
      expect(r.status(), await r.text()).toBe(status);
      return r.json();
    },
    async get(path: string) {
      const r = await request.get(path, { headers });
      expect(r.status(), await r.text()).toBe(200);
      return r.json();
    },
  };
}

/** `n` running steps "Part 0" … on one level of a job, sent 25 at a time. */
export async function addParts(admin: ReturnType<typeof api>, jobId: string, n: number) {
  for (let from = 0; from < n; from += 25) {
    await Promise.all(Array.from({ length: Math.min(25, n - from) }, (_, i) =>
      admin.post(`/api/jobs/${jobId}/steps`, { description: `Part ${from + i}`, type: 'executing' })));
  }
}

export async function signIn(page: Page, user = ADMIN, password = PASSWORD) {
  await page.goto('/');
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-user')).toHaveText(user);
}

export function unique(prefix: string): string {
  return `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** The row of the job with this description. */
export function jobRow(page: Page, description: string) {
  return page.getByTestId('job-row').filter({ has: page.getByRole('link', { name: description, exact: true }) });
}
