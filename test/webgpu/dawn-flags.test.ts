// The Dawn instance flags: the toggles f16 and subgroup matrices need on NVIDIA, timestamps
// unquantized, and extra toggles from AVDIT_DAWN_ENABLE (names only: nothing else gets through).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dawnFlags } from '../../engine/webgpu/device.ts';

test('dawnFlags: defaults, extra toggles from the environment, junk dropped', () => {
  assert.deepEqual(dawnFlags(''), ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia', 'disable-dawn-features=timestamp_quantization']);
  assert.equal(dawnFlags('disable_robustness, enable_integer_range_analysis_in_robustness')[0], 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,disable_robustness,enable_integer_range_analysis_in_robustness');
  assert.equal(dawnFlags('x;rm -rf,Bad Name,ok_1')[0], 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia,ok_1');
});
