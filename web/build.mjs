// Builds the console's front end into dist/: one bundled script (our code,
// noVNC and xterm.js from node_modules), one stylesheet and the page.
// `cargo xtask web` runs it after `npm ci`; build.rs embeds dist/.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/app.js'],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  outfile: 'dist/app.js',
  logLevel: 'warning',
});
const css = [
  readFileSync('node_modules/@xterm/xterm/css/xterm.css', 'utf8'),
  readFileSync('src/style.css', 'utf8'),
].join('\n');
writeFileSync('dist/app.css', css);
copyFileSync('src/index.html', 'dist/index.html');
copyFileSync('src/favicon.svg', 'dist/favicon.svg');
