import { test, expect } from './fixtures';
import { api, jobRow, signIn, token, unique } from './helpers';

// scripts/test.sh starts a second server process on the same database with --tls-cert and --tls-key
// (a self-signed certificate made for the run, which this browser is told to accept).
const TLS_URL = process.env.STEPWISE_TLS_URL;

test.describe('over HTTPS', () => {
  test.skip(!TLS_URL, 'no HTTPS server given (scripts/test.sh starts one)');
  test.use({ baseURL: TLS_URL, ignoreHTTPSErrors: true });

  test('the Tasks pane works over HTTPS and HTTP/2: sign-in, live updates, an action on the session cookie', async ({ page, request }) => {
    const admin = api(request, await token(request));
    await signIn(page);
    const protocol = await page.evaluate(
      () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    expect(protocol).toBe('h2');
    await expect(page.getByTestId('connection')).toHaveText('Live');

    // Written over HTTPS, it arrives on the open page through the event stream.
    const description = unique('Backup over TLS');
    const job = await admin.post('/api/jobs', { description });
    await expect(jobRow(page, description)).toContainText('Running');

    // A change the page makes on its session cookie (the cookie is Secure; the origin check sees the
    // host in HTTP/2's authority).
    const cookies = await page.context().cookies();
    expect(cookies.length).toBeGreaterThan(0);
    expect(cookies.every((c) => c.secure && c.httpOnly)).toBe(true);
    await jobRow(page, description).getByRole('link', { name: description }).click();
    await page.getByRole('button', { name: 'End job…' }).click();
    await page.getByLabel('End as').selectOption('aborted');
    await page.getByRole('button', { name: 'Confirm end' }).click();
    await expect(page.getByTestId('job-status')).toContainText('Aborted');
    expect((await admin.get(`/api/jobs/${job.id}`)).status).toBe('aborted');
  });

  test('eight tabs of the Tasks pane stay live together (HTTP/2 carries every event stream on one connection)', async ({ page, request }) => {
    // Over plain HTTP/1.1 a browser opens at most six connections to a host, and each open tab's event
    // stream keeps one: a seventh tab would wait. Over HTTPS they share one HTTP/2 connection.
    const admin = api(request, await token(request));
    await signIn(page);
    const tabs = [page];
    for (let i = 1; i < 8; i++) {
      const tab = await page.context().newPage();
      await tab.goto('/');
      tabs.push(tab);
    }
    for (const tab of tabs) await expect(tab.getByTestId('connection')).toHaveText('Live');
    const description = unique('Seen in every tab');
    await admin.post('/api/jobs', { description });
    for (const tab of tabs) await expect(jobRow(tab, description)).toBeVisible();
    for (const tab of tabs.slice(1)) await tab.close();
  });
});
