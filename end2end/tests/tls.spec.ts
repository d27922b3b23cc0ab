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
});
