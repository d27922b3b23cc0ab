import { test } from './fixtures';
import { api, jobRow, signIn, token } from './helpers';

// Refreshes the screenshots in docs/ (run with STEPWISE_SCREENSHOTS=1; CI leaves them alone).
test.skip(!process.env.STEPWISE_SCREENSHOTS, 'screenshots only on request');

test('screenshots of the main views', async ({ page, request }) => {
  const admin = api(request, await token(request));
  const make = async (description: string, steps: [string, string, number | null, string | null][]) => {
    const job = await admin.post('/api/jobs', { description });
    const ids: Record<string, string> = {};
    for (const [name, type, progress, parent] of steps) {
      const body: any = { description: name, type };
      if (parent) { body.parent_id = ids[parent]; body.parent_type = 'step'; }
      ids[name] = (await admin.post(`/api/jobs/${job.id}/steps`, body)).id;
      if (progress !== null) await admin.post(`/api/jobs/${job.id}/steps/${ids[name]}/progress`, { progress }, 200);
    }
    return { job, ids };
  };
  const done = await make('Nightly backup of vm-db-02', [['Validate the request', 'validating', null, null]]);
  await admin.post(`/api/jobs/${done.job.id}/end`, { status: 'finished' }, 200);
  const failed = await make('Import template rhel-9.4', [['Download image', 'executing', null, null]]);
  await admin.post(`/api/jobs/${failed.job.id}/steps/${failed.ids['Download image']}/end`, { status: 'failed' }, 200);
  const { job, ids } = await make('Backup of vm-web-01', [
    ['Validate the request', 'validating', null, null],
    ['Copy disks', 'executing', null, null],
    ['Copy disk os.qcow2', 'executing', 100, 'Copy disks'],
    ['Copy disk data.qcow2', 'executing', 35, 'Copy disks'],
    ['Register the backup', 'finalizing', null, null],
  ]);
  await admin.post(`/api/jobs/${job.id}/steps/${ids['Validate the request']}/end`, { status: 'finished' }, 200);
  await admin.post(`/api/jobs/${job.id}/steps/${ids['Copy disk os.qcow2']}/end`, { status: 'finished' }, 200);

  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto('/');
  await page.getByLabel('User name').fill('admin');
  await page.screenshot({ path: '../docs/sign-in.png' });
  await signIn(page);
  const row = jobRow(page, 'Backup of vm-web-01');
  await row.focus();
  await page.keyboard.press('ArrowRight');
  await row.getByRole('treeitem', { name: /data\.qcow2/ }).waitFor();
  await page.screenshot({ path: '../docs/tasks.png' });
  await row.getByRole('link', { name: 'Backup of vm-web-01' }).click();
  await page.getByTestId('timeline-bar').first().waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: '../docs/job-detail.png' });
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByTestId('user-row').first().waitFor();
  await page.screenshot({ path: '../docs/users.png' });
});
