// The device choice as a user meets it, in subprocesses: no Vulkan driver (`avdit device` says what
// to install, `--backend auto` falls back to the CPU with a notice), and `avdit gradcheck --backend
// webgpu` run as a command on lavapipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const AVDIT = join(import.meta.dirname, '../../bin/avdit.mjs');
const avdit = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [AVDIT, ...args], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env },
  });
// The Vulkan loader finds no driver manifest: Dawn sees no adapter at all.
const NO_DRIVER = { VK_ICD_FILENAMES: '/nonexistent.json', VK_DRIVER_FILES: '/nonexistent.json' };

test('no Vulkan driver: avdit device exits 1 saying what to install and what Dawn saw', () => {
  const r = avdit(['device'], NO_DRIVER);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /Dawn found no adapter/);
  assert.match(out, /NVIDIA driver/);
  assert.match(out, /lavapipe .*bookworm-backports mesa-vulkan-drivers/);
  assert.match(out, /Dawn saw: requestAdapter\(.*\) gave no adapter/);
});

test('no Vulkan driver: --backend auto falls back to the cpu backend with a notice and runs', () => {
  const r = avdit(['gradcheck', '--backend', 'auto', '--cases', '1', '--op', 'add'], NO_DRIVER);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /^backend: cpu \(auto: no WebGPU adapter: webgpu: Dawn found no adapter/m);
  assert.match(r.stdout, /^gradcheck on cpu/m);
  assert.match(r.stdout, /^1 ops, 0 failed/m);
});

test('avdit gradcheck --backend webgpu --cases 1: every op against the CPU backend, exit 0', () => {
  const r = avdit(['gradcheck', '--backend', 'webgpu', '--cases', '1']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /^backend: webgpu \(/m); // lavapipe in CI, the GPU where there is one
  assert.match(r.stdout, /^gradcheck on webgpu .*: f32 vs cpu$/m);
  const summary = /^(\d+) ops, 0 failed, [\d.]+ s$/m.exec(r.stdout);
  assert.ok(summary, `no summary line in:\n${r.stdout}`);
  assert.ok(Number(summary[1]) >= 40, `only ${summary[1]} ops checked`);
  assert.doesNotMatch(r.stdout, / fail$/m);
});
