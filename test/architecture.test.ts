import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** Every .ts file below `dir`, relative to the repository root. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Import and re-export specifiers of a file, including dynamic imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g,
  )) {
    found.push(match[1]!);
  }
  for (const match of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push(match[1]!);
  }
  return found;
}

function resolved(file: string, specifier: string): string {
  return specifier.startsWith('.') ? relative(ROOT, join(ROOT, file, '..', specifier)) : specifier;
}

const production = (dir: string) => sources(dir).filter((f) => !f.endsWith('.test.ts'));
const driverCore = production('driver').filter((f) => !f.startsWith('driver/adapters/'));

/** Every file of the project that code or a test could read a path from. */
function projectFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    if (['node_modules', 'dist', 'coverage', '.git', '.tmp', 'fixtures'].includes(entry.name)) {
      continue;
    }
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...projectFiles(path));
    else if (/\.(ts|js|mjs|cjs|sh|py)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/**
 * The places in `file` that name a path outside the repository root: a literal with more `..`
 * steps than the file is deep, `..` joined onto the root itself, an import that resolves outside,
 * or the team's reference folder beside a clone, which only our own machines have.
 */
function outsideReads(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const depth = file.split('/').length - 1;
  const found: string[] = [];
  for (const match of text.matchAll(/['"`]((?:\.\.\/)+)[^'"`\n]*['"`]/g)) {
    if (match[1]!.length / 3 > depth) found.push(match[0]);
  }
  for (const match of text.matchAll(/\b(?:ROOT|repoRoot|root|REPO_ROOT)\s*,\s*['"`]\.\.['"`/]/g)) {
    found.push(match[0]);
  }
  for (const match of text.matchAll(/[^\n]*\bshared\/(?:reference|host-notes|STYLE)[^\n]*/g)) {
    found.push(match[0].trim());
  }
  // Sections of that folder's documents, which a reader of the repository cannot open.
  for (const match of text.matchAll(/[^\n]*(?:nova-lxc-refer(?:ence)|\breferenc[e] §)[^\n]*/g)) {
    found.push(match[0].trim());
  }
  if (file.endsWith('.ts')) {
    for (const specifier of importsOf(file)) {
      if (resolved(file, specifier).startsWith('..')) found.push(specifier);
    }
  }
  return found;
}

describe('the repository is self-contained', () => {
  const files = projectFiles('.');

  it.each(files)('%s reads no path outside the repository', (file) => {
    expect(outsideReads(file)).toEqual([]);
  });

  it('finds reads outside the repository (the rule cannot pass vacuously)', () => {
    expect(files).toContain('test/nova-blockinfo-cases.test.ts');
    expect(files).toContain('tools/check-leaks.sh');
  });
});

describe('import boundaries', () => {
  it.each(driverCore)(
    'rule 1: %s (driver core) imports no node IO, execa, adapter or simulator',
    (file) => {
      const bad = importsOf(file).filter((s) => {
        const target = resolved(file, s);
        return (
          // node:zlib only for crc32 (a pure computation, driver/core/crc32.ts).
          (s.startsWith('node:') && !(s === 'node:zlib' && file === 'driver/core/crc32.ts')) ||
          ['fs', 'child_process', 'os', 'path', 'fs/promises'].includes(s) ||
          s === 'execa' ||
          target.startsWith('driver/adapters/') ||
          target.startsWith('simulator/')
        );
      });
      expect(bad).toEqual([]);
    },
  );

  it('rule 2: only the command runners start processes (execa or node:child_process)', () => {
    const users = [
      ...production('driver'),
      ...production('simulator'),
      ...production('harness'),
      ...production('scenarios'),
      // The benchmark times raw shell scripts and the CLI as processes, by definition.
      ...production('tools').filter((f) => !f.startsWith('tools/bench/')),
    ].filter((f) =>
      importsOf(f).some((s) => ['execa', 'node:child_process', 'child_process'].includes(s)),
    );
    // The direct runner, and the command helper (which starts the helper and hands it argv).
    expect(users).toEqual([
      'driver/adapters/command-helper.ts',
      'driver/adapters/command-runner.ts',
    ]);
  });

  it.each(production('simulator'))('rule 3: %s (simulator) imports no real adapter', (file) => {
    expect(importsOf(file).filter((s) => resolved(file, s).startsWith('driver/adapters/'))).toEqual(
      [],
    );
  });

  /** The imports of `file` that resolve into any of `folders`. */
  const into = (file: string, ...folders: string[]) =>
    importsOf(file).filter((s) => folders.some((d) => resolved(file, s).startsWith(`${d}/`)));

  // The layers above the driver: the simulator is a host, the harness builds and watches a
  // host on either backend, scenarios run on whatever harness they are given, tools use all.
  it.each(production('simulator'))(
    'rule 4: %s (simulator) imports nothing from harness or scenarios',
    (file) => {
      expect(into(file, 'harness', 'scenarios')).toEqual([]);
    },
  );

  it.each(production('scenarios'))('rule 5: %s (scenarios) imports no simulator', (file) => {
    expect(into(file, 'simulator')).toEqual([]);
  });

  it.each(production('harness'))('rule 6: %s (harness) imports no scenarios', (file) => {
    expect(into(file, 'scenarios')).toEqual([]);
  });

  it.each(production('tools'))('rule 7: %s (tools) imports no test code', (file) => {
    expect(into(file, 'test')).toEqual([]);
    expect(importsOf(file).filter((s) => s.endsWith('.test.js') || s.endsWith('.test.ts'))).toEqual(
      [],
    );
  });

  it('sees the files it guards (the rules cannot pass vacuously)', () => {
    expect(production('harness')).toContain('harness/sim-harness.ts');
    expect(into('harness/sim-harness.ts', 'simulator').length).toBeGreaterThan(0);
    expect(into('scenarios/runner.ts', 'harness').length).toBeGreaterThan(0);
    expect(production('tools')).toContain('tools/record-transcripts.ts');
    expect(driverCore).toContain('driver/driver.ts');
    expect(importsOf('driver/driver.ts').length).toBeGreaterThan(3);
    expect(production('simulator')).toContain('simulator/state.ts');
  });
});
