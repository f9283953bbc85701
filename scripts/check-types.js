#!/usr/bin/env node
'use strict';
// Compiles the shipped declarations as a consumer project does, with TypeScript 5 and 7:
//   - test/types/*.ts, the type tests (expect-type; @ts-expect-error for what must not compile);
//   - every ```ts block of README.md, each in a function of its own, with the names it uses but
//     does not define declared (someFd, dev, ...).
// The project is a temporary directory holding node_modules/dmabuf (package.json and dist/src,
// copied as npm would install them), @types/node (a dependency of the package) and expect-type, and
// a tsconfig with `types: []` (TypeScript 7's default), strict, module nodenext, skipLibCheck off:
// the declarations must bring Node's types themselves.
//
//   node scripts/check-types.js            both compilers (npm run test:types; test/63-types runs it)
//   node scripts/check-types.js --ts 7     one
//   node scripts/check-types.js --keep     leave the project directory and print where it is
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const only = argv.includes('--ts') ? argv[argv.indexOf('--ts') + 1] : undefined;
const keep = argv.includes('--keep');
const COMPILERS = { 5: 'typescript', 7: 'typescript7' };

/** The README's ```ts blocks, each made a module that compiles on its own. */
function readmeBlocks() {
  const text = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => ({
    code: m[1], line: text.slice(0, m.index).split('\n').length + 1,
  }));
  return blocks.map(({ code, line }) => {
    const lines = code.split('\n');
    const imports = lines.filter((l) => /^import\s/.test(l));
    const body = lines.filter((l) => !/^import\s/.test(l));
    const head = imports.length > 0 ? imports : [
      "import { probe, udmabuf, heaps, drm, DmaBuf, Exporter, Display, Frame, FramePool, formats, v4l2 } from 'dmabuf';",
    ];
    return {
      name: `readme-${line}.ts`,
      text: [
        `// README.md line ${line}`,
        ...head,
        "import type { Device, Framebuffer, SyncFile, VideoDevice } from 'dmabuf';",
        // names the examples use as given
        'declare const someFd: number;',
        'declare const dev: Device;',
        'declare const encoderPath: string;',
        'declare const decoder: VideoDevice;',
        'declare const background: Framebuffer, sprite: Framebuffer, arrow: Framebuffer;',
        'declare const decoded: SyncFile;',
        'export async function example(): Promise<void> {',
        ...body.map((l) => `  ${l}`),
        '}',
        '',
      ].join('\n'),
    };
  });
}

function link(target, dest) {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.symlinkSync(target, dest);
}

function project() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-types-'));
  const nm = path.join(dir, 'node_modules');
  const pkg = path.join(nm, 'dmabuf');
  fs.mkdirSync(pkg, { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'index.d.ts'))) throw new Error('dist/src is not built: npm run build:ts');
  fs.cpSync(path.join(root, 'dist', 'src'), path.join(pkg, 'dist', 'src'), { recursive: true });
  for (const dep of ['@types/node', 'undici-types', 'expect-type']) {
    link(fs.realpathSync(path.join(root, 'node_modules', dep)), path.join(nm, dep));
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
      types: [], skipLibCheck: false, resolveJsonModule: true,
    },
    include: ['*.ts'],
  }, null, 2));
  const files = [];
  for (const f of fs.readdirSync(path.join(root, 'test', 'types'))) {
    if (!f.endsWith('.ts')) continue;
    fs.copyFileSync(path.join(root, 'test', 'types', f), path.join(dir, f));
    files.push(f);
  }
  for (const b of readmeBlocks()) {
    fs.writeFileSync(path.join(dir, b.name), b.text);
    files.push(b.name);
  }
  return { dir, files };
}

const { dir, files } = project();
let failed = false;
try {
  for (const [version, name] of Object.entries(COMPILERS)) {
    if (only && only !== version) continue;
    const tsc = path.join(path.dirname(require.resolve(`${name}/package.json`, { paths: [root] })), 'bin', 'tsc');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
    const v = spawnSync(process.execPath, [tsc, '--version'], { encoding: 'utf8' }).stdout.trim();
    const ms = Date.now() - t0;
    if (r.status === 0) {
      console.log(`check-types: ${v}: ${files.length} files compile (${files.join(', ')}) in ${ms} ms`);
    } else {
      failed = true;
      console.error(`check-types: ${v}: errors (exit ${r.status}) in ${ms} ms\n${r.stdout}${r.stderr}`);
    }
  }
} finally {
  if (keep) console.log(`check-types: project kept in ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
