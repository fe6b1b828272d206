// The Dawn instance flags: the toggles f16 and subgroup matrices need on NVIDIA, the fast-shader
// toggles (unless AVDIT_ROBUSTNESS=1), timestamps unquantized, and extra toggles from
// AVDIT_DAWN_ENABLE (names only: nothing else gets through).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dawnFlags, unknownToggles } from '../../engine/webgpu/device.ts';

test('dawnFlags: defaults, extra toggles from the environment, junk refused', () => {
  const base = 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia';
  assert.deepEqual(dawnFlags('', false), [`${base},disable_robustness,disable_workgroup_init`, 'disable-dawn-features=timestamp_quantization']);
  // AVDIT_ROBUSTNESS=1: Dawn's index clamping and workgroup zeroing stay on.
  assert.deepEqual(dawnFlags('', true), [base, 'disable-dawn-features=timestamp_quantization']);
  assert.equal(dawnFlags('disable_robustness, enable_integer_range_analysis_in_robustness', true)[0], `${base},disable_robustness,enable_integer_range_analysis_in_robustness`);
  assert.equal(dawnFlags('disable_robustness', false)[0], `${base},disable_robustness,disable_workgroup_init`);
  assert.equal(dawnFlags(' ok_1, ,', true)[0], `${base},ok_1`);
  assert.throws(() => dawnFlags('x;rm -rf,Bad Name,ok_1', true), /AVDIT_DAWN_ENABLE: "x;rm -rf", "Bad Name" cannot be a Dawn toggle/);
});

test('toggles the Dawn binary does not name are found (a typo would be ignored by Dawn without a word)', () => {
  const binary = Buffer.from('\0dump_shaders\0allow_unsafe_apis\0xdisable_robustness\0');
  assert.deepEqual(unknownToggles(['enable-dawn-features=dump_shaders,dump_shaderz,disable_robustness', 'disable-dawn-features=allow_unsafe_apis', 'other=x'], binary), ['dump_shaderz', 'disable_robustness']);
  // The real binary names every toggle we pass by default.
  assert.deepEqual(unknownToggles(dawnFlags('', false)), []);
  assert.deepEqual(unknownToggles(dawnFlags('dump_shaders,dump_shaderz', false)), ['dump_shaderz']);
});
