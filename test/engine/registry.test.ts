// Backend choice: `auto` takes a hardware GPU, never a software Vulkan adapter (lavapipe is slower
// than the CPU backend on the machines we measured); `webgpu` takes whatever adapter there is.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeBackends, useBackend } from '../../engine/registry.ts';
import { isSoftwareAdapter } from '../../engine/webgpu/software-adapter.ts';

after(closeBackends);

test('software adapters are recognised by their description', () => {
  assert.ok(isSoftwareAdapter('Mesa: llvmpipe (LLVM 19.1.7, 256 bits) (cpu)'));
  assert.ok(isSoftwareAdapter('Google: SwiftShader Device'));
  assert.ok(!isSoftwareAdapter('NVIDIA: NVIDIA H200 (hopper)'));
});

test('auto never picks a software adapter; webgpu takes it', async () => {
  const lines: string[] = [];
  const gpu = await useBackend('webgpu');
  const auto = await useBackend('auto', (m) => lines.push(m));
  if (isSoftwareAdapter(gpu.device)) {
    assert.equal(auto.name, 'cpu');
    assert.match(lines.join('\n'), /backend: cpu \(auto: the only WebGPU adapter is a CPU driver/);
  } else {
    assert.equal(auto, gpu);
  }
});
