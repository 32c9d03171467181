// Lint rules. The one rule that carries architecture: src/core is pure. It may
// import only itself, so it can be unit-tested exhaustively without a kernel.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs',
  'fs/promises',
  'child_process',
  'os',
  'net',
  'dgram',
  'cluster',
  'worker_threads',
  'process',
  'http',
  'https',
  'tty',
  'readline',
  'dns',
  'crypto',
  'perf_hooks',
].flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioModules.map((name) => ({
            name,
            message: 'src/core is pure: do I/O in src/host and pass data in.',
          })),
          patterns: [
            {
              group: [
                '../../*',
                '../host/*',
                '../native/*',
                '../lifecycle/*',
                '../cli/*',
                '../api/*',
                '../inspect/*',
              ],
              message: 'src/core imports only src/core.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'src/core is pure: no process state.' },
        { name: 'Date', message: 'src/core is pure: pass the time in.' },
      ],
    },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
