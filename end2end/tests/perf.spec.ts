import { test } from './fixtures';
import { api, signIn, token } from './helpers';

// A measurement, not a test (STEPWISE_PERF=1, against a server whose database holds the data set —
// scripts/bench.sh prepares one): how long the first page of jobs takes to be on screen, and how long
// a 1,000-step job takes to expand. Prints the numbers; asserts nothing about speed.
test.skip(!process.env.STEPWISE_PERF, 'measurements only on request');

test('time to the first page and to expanding a 1,000-step job', async ({ page, request }, info) => {
  const admin = api(request, await token(request));
  const big = await admin.post('/api/jobs', { description: 'perf: a job with 1,000 steps' });
  for (let p = 0; p < 10; p++) {
    const parent = await admin.post(`/api/jobs/${big.id}/steps`, { description: `parent ${p}`, type: 'executing' });
    await Promise.all(Array.from({ length: 99 }, (_, c) =>
      admin.post(`/api/jobs/${big.id}/steps`, { description: `child ${p}.${c}`, type: 'executing', parent_id: parent.id, parent_type: 'step' })));
  }
  await signIn(page);
  const firstPage: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    await page.goto('/?status=failed');
    await page.getByTestId('job-row').first().waitFor();
    firstPage.push(Date.now() - t0);
  }
  await page.goto('/');
  const row = page.getByTestId('job-row').filter({ hasText: 'perf: a job with 1,000 steps' }).first();
  await row.waitFor();
  // Expanding the job shows its 10 top-level steps (each with 99 sub-steps, collapsed: a step with more
  // than 25 sub-steps opens on request); then opening one of them shows its 99 sub-steps.
  const expand: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t0 = Date.now();
    await row.getByRole('button', { name: 'Expand' }).first().click();
    await row.getByRole('treeitem', { name: /parent 9/ }).waitFor();
    expand.push(Date.now() - t0);
    const parent = row.getByRole('treeitem', { name: /parent 9/ });
    t0 = Date.now();
    await parent.getByRole('button', { name: 'Expand' }).click();
    await row.getByRole('treeitem', { name: /child 9\.98/ }).waitFor();
    open.push(Date.now() - t0);
    await row.getByRole('button', { name: 'Collapse' }).first().click();
  }
  const rows = await page.getByTestId('job-row').count();
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const report = `first page on screen (navigation to rows): median ${median(firstPage)} ms of ${firstPage.join(', ')}; ` +
    `expanding the 1,000-step job: median ${median(expand)} ms of ${expand.join(', ')}; ` +
    `opening a 99-sub-step step in it: median ${median(open)} ms of ${open.join(', ')}; job rows in the DOM: ${rows}`;
  console.log(report);
  info.annotations.push({ type: 'measurement', description: report });
});
