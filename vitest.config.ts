import { defineConfig } from 'vitest/config';

// Two projects run the same backend-neutral files: `sim` on the in-memory simulator
// (every CI run, no root), `real` on the host's loop devices, mounts and libvirt (root).
// @note Coverage uses @vitest/coverage-v8 (V8 + v8-to-istanbul, the engine c8 is built on):
// c8 itself cannot map the modules vitest transforms and reports 0% for covered files.
export default defineConfig({
  test: {
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['driver/**/*.ts', 'simulator/**/*.ts', 'harness/**/*.ts', 'service/**/*.ts'],
      // The real harness runs only on the real backend (`npm run test:real`).
      exclude: ['**/*.test.ts', 'driver/ports/**', 'harness/real-harness.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90 },
    },
    projects: [
      {
        test: {
          name: 'sim',
          include: [
            'test/**/*.test.ts',
            'driver/**/*.test.ts',
            'simulator/**/*.test.ts',
            'harness/**/*.test.ts',
            'scenarios/**/*.test.ts',
            'tools/**/*.test.ts',
            'service/**/*.test.ts',
          ],
          exclude: ['test/real/**'],
          env: { NOVA_LXC_BACKEND: 'sim' },
        },
      },
      {
        test: {
          name: 'real',
          include: [
            'test/contract/**/*.test.ts',
            'test/driver/**/*.test.ts',
            'test/scenarios/**/*.test.ts',
            'test/real/**/*.test.ts',
          ],
          env: { NOVA_LXC_BACKEND: 'real' },
          testTimeout: 120_000,
          hookTimeout: 120_000,
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
