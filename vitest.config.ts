import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    setupFiles: ['./vitest.setup.ts'],
    exclude: ['node_modules/**'],
    // Two cores: integration tests start processes; keep the pool small so they do not starve.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
