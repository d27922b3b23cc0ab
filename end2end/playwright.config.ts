import { defineConfig } from '@playwright/test';

// The server is started by scripts/test.sh and named by STEPWISE_URL.
export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: process.env.STEPWISE_URL ?? 'http://127.0.0.1:3000',
    launchOptions: {
      // Never a downloaded browser: Debian's Chromium, kept off the closed network.
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
    trace: 'off',
  },
});
