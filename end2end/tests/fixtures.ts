import { test as base, expect } from '@playwright/test';

// Every page fails its test on an uncaught error or a console error: that is what catches a broken
// wasm bundle.
export const test = base.extend<{ failOnErrors: void }>({
  failOnErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        // A refusal the UI shows in words (say, a wrong password: 401) is not a page error.
        const refusal = /Failed to load resource: the server responded with a status of 4\d\d/;
        if (m.type() === 'error' && !refusal.test(m.text())) errors.push(`console: ${m.text()}`);
      });
      await use();
      expect(errors, 'errors in the page').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
